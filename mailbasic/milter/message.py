"""What the milter collected about one SMTP transaction, handed to the stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from mailbasic.milter.decisions import Outcome
from mailbasic.milter.spool import Spool
from mailbasic.rules.recipient import MessageView, RecipientOutcome


@dataclass(frozen=True)
class Client:
    address: str
    name: str
    helo: str = ""
    tls: str | None = None           # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
    auth_user: str | None = None     # SASL login of a submission client


@dataclass
class Message:
    """sender and recipients are bare addresses (rules.recipient.bare_address): "" is
    the null sender. The stages write what later stages read into the typed fields at
    the end."""

    queue_id: str
    client: Client
    sender: str
    recipients: list[str]
    headers: list[tuple[str, bytes]]          # as received, in order
    spool: Spool                              # headers, blank line, body
    body_offset: int                          # where the body starts in the spool
    announced_size: int | None = None
    spam_score: float | None = None           # the spam stage's, for the rules
    # Each recipient with rules: what they decided (by lower-case address), for SMS.
    rules_outcomes: dict[str, RecipientOutcome] = field(default_factory=dict)
    # The rules' view of the message, made once by the first stage after the scanners
    # that needs it (rules, SMS): see stages/rules.message_view.
    view: MessageView | None = None
    # The decisions of the groups run so far, in order (the pipeline adds each group's):
    # the stage that signs (dkim_sign) signs the message as they leave it.
    outcomes: list[Outcome] = field(default_factory=list)

    def keeps_mail(self, recipient: str) -> bool:
        """Whether RECIPIENT's mailbox gets the message as mail; without rules, it does."""
        outcome = self.rules_outcomes.get(recipient.lower())
        return outcome is None or outcome.keeps_mail

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
