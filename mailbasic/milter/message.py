"""What the milter collected about one SMTP transaction, handed to the stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from mailbasic.milter.spool import Spool


@dataclass(frozen=True)
class Client:
    address: str
    name: str
    helo: str = ""
    tls: str | None = None           # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
    auth_user: str | None = None     # SASL login of a submission client


@dataclass
class Message:
    queue_id: str
    client: Client
    sender: str
    recipients: list[str]
    headers: list[tuple[str, bytes]]          # as received, in order
    spool: Spool                              # headers, blank line, body
    body_offset: int                          # where the body starts in the spool
    announced_size: int | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.spool.size

    def reader(self) -> BinaryIO:
        return self.spool.reader()

    def header_indices(self, predicate: Callable[[str], bool]) -> list[tuple[str, int]]:
        """(name, 1-based index among headers of that name) of the matching headers."""
        seen: dict[str, int] = {}
        matches: list[tuple[str, int]] = []
        for name, _ in self.headers:
            key = name.lower()
            seen[key] = seen.get(key, 0) + 1
            if predicate(key):
                matches.append((name, seen[key]))
        return matches
