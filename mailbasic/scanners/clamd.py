"""ClamAV clamd client: many zINSTREAM scans over one connection (zIDSESSION).

Data goes in chunks of at most 64 KiB, each with clamd's 4-byte big-endian length.
Verdicts: clean, infected (with the signature), unscannable (clamd's heuristics for
encrypted archives and exceeded limits, and its "size limit exceeded": the same content
will never pass), or failed (any other ERROR answer: clamd's own trouble, which may pass on
a retry). What could not be scanned is never reported clean.
"""

from __future__ import annotations

import enum
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from mailbasic.scanners.deadline import Deadline

CHUNK_SIZE = 65536
MAX_REPLY = 4096
_REPLY = re.compile(rb"^(\d+): (?:stream: )?(.*?)(?: (FOUND|ERROR))?$")
_UNSCANNABLE_SIGNATURES = ("Heuristics.Encrypted.", "Heuristics.Limits.Exceeded")
_UNSCANNABLE_ERRORS = ("size limit exceeded",)


class ClamdError(Exception):
    """clamd unreachable, too slow, or answering something that is not its protocol."""


class Verdict(enum.Enum):
    CLEAN = "clean"
    INFECTED = "infected"
    UNSCANNABLE = "unscannable"
    FAILED = "failed"


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    detail: str | None = None  # the signature, or why it could not be scanned


class ClamdSession:
    """One connection, many scans. Use as a context manager."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.address = f"{host}:{port}"
        self.deadline = Deadline(timeout)
        self.requests = 0
        try:
            self.connection = self.deadline.connect(host, port)
            self.deadline.sendall(self.connection, b"zIDSESSION\0")
        except (OSError, TimeoutError) as error:
            raise ClamdError(f"clamd at {self.address}: {error}") from error
        self.pending = b""

    def __enter__(self) -> ClamdSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.connection.settimeout(1)
            self.connection.sendall(b"zEND\0")
        except OSError:
            pass  # the session is over either way
        self.connection.close()

    def scan(self, chunks: Iterable[bytes]) -> ScanResult:
        self.requests += 1
        try:
            self._send_stream(chunks)
            return self._parse(self._read_reply())
        except (OSError, TimeoutError) as error:
            raise ClamdError(f"clamd at {self.address}: {error}") from error

    def _send_stream(self, chunks: Iterable[bytes]) -> None:
        self.deadline.sendall(self.connection, b"zINSTREAM\0")
        for chunk in chunks:
            for start in range(0, len(chunk), CHUNK_SIZE):
                piece = chunk[start:start + CHUNK_SIZE]
                self.deadline.sendall(self.connection, struct.pack(">I", len(piece)) + piece)
        self.deadline.sendall(self.connection, struct.pack(">I", 0))

    def _read_reply(self) -> bytes:
        while b"\0" not in self.pending:
            chunk = self.deadline.recv(self.connection)
            if not chunk:
                raise ClamdError(f"clamd at {self.address} closed the connection")
            self.pending += chunk
            if len(self.pending) > MAX_REPLY:
                raise ClamdError("clamd reply too long")
        reply, _, self.pending = self.pending.partition(b"\0")
        return reply

    def _parse(self, reply: bytes) -> ScanResult:
        match = _REPLY.match(reply)
        if not match or int(match.group(1)) != self.requests:
            raise ClamdError(f"unexpected clamd reply {reply[:120]!r}")
        text, kind = match.group(2).decode("utf-8", "replace"), match.group(3)
        if kind == b"ERROR":
            if any(error in text for error in _UNSCANNABLE_ERRORS):
                return ScanResult(Verdict.UNSCANNABLE, text)
            return ScanResult(Verdict.FAILED, text)
        if kind == b"FOUND":
            if text.startswith(_UNSCANNABLE_SIGNATURES):
                return ScanResult(Verdict.UNSCANNABLE, text)
            return ScanResult(Verdict.INFECTED, text)
        if text == "OK":
            return ScanResult(Verdict.CLEAN)
        raise ClamdError(f"unexpected clamd reply {reply[:120]!r}")

