"""SpamAssassin spamd client, SPAMC/1.5, command SYMBOLS (score, threshold, test names).

Any answer that is not exactly the protocol raises SpamdError; so does a timeout. The
caller decides what that means (tempfail, or fail-open by configuration).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import BinaryIO

from mailbasic.scanners.deadline import Deadline

CHUNK_SIZE = 65536
MAX_ANSWER = 256 * 1024
_STATUS_LINE = re.compile(rb"^SPAMD/1\.\d+ (\d+) (.*)$")
_SPAM_HEADER = re.compile(rb"^Spam: (True|False|Yes|No) ; (-?\d+(?:\.\d+)?) / (-?\d+(?:\.\d+)?)$",
                          re.IGNORECASE)
_TEST_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SAFE_USER = re.compile(r"^[A-Za-z0-9@._+-]{1,128}$")


class SpamdError(Exception):
    """spamd unreachable, too slow, or answering something that is not SPAMC/1.5."""


@dataclass(frozen=True)
class SpamReport:
    is_spam: bool
    score: float
    threshold: float
    tests: tuple[str, ...]


class SpamdClient:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    def check(self, message: BinaryIO, length: int, user: str) -> SpamReport:
        """Analyse `length` bytes of `message` (from its current position) for `user`."""
        if not _SAFE_USER.match(user):
            raise ValueError(f"unsafe spamd user name {user!r}")
        header = (f"SYMBOLS SPAMC/1.5\r\nContent-length: {length}\r\n"
                  f"User: {user}\r\n\r\n").encode("ascii")
        try:
            return parse_answer(self._exchange(header, message, length))
        except (OSError, TimeoutError) as error:
            raise SpamdError(f"spamd at {self.host}:{self.port}: {error}") from error

    def _exchange(self, header: bytes, message: BinaryIO, length: int) -> bytes:
        deadline = Deadline(self.timeout)
        with deadline.connect(self.host, self.port) as connection:
            deadline.sendall(connection, header)
            remaining = length
            while remaining:
                chunk = message.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise SpamdError("message shorter than its announced length")
                deadline.sendall(connection, chunk)
                remaining -= len(chunk)
            connection.shutdown(socket.SHUT_WR)
            return _read_all(deadline, connection)


def _read_all(deadline: Deadline, connection: socket.socket) -> bytes:
    answer = bytearray()
    while chunk := deadline.recv(connection):
        answer += chunk
        if len(answer) > MAX_ANSWER:
            raise SpamdError("spamd answer too long")
    return bytes(answer)


def parse_answer(answer: bytes) -> SpamReport:
    head, separator, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = _STATUS_LINE.match(lines[0])
    if not separator or not status:
        raise SpamdError(f"not a SPAMD answer: {answer[:80]!r}")
    if status.group(1) != b"0":
        raise SpamdError(f"spamd refused: {status.group(1).decode()} "
                         f"{status.group(2).decode(errors='replace')}")
    spam = next(filter(None, (_SPAM_HEADER.match(line) for line in lines[1:])), None)
    if spam is None:
        raise SpamdError(f"spamd answer without a Spam: header: {head[:200]!r}")
    tests = tuple(name for name in body.decode("ascii", "replace").strip().split(",") if name)
    if not all(_TEST_NAME.match(name) for name in tests):
        raise SpamdError(f"spamd answer with malformed test names: {body[:200]!r}")
    return SpamReport(is_spam=spam.group(1).lower() in (b"true", b"yes"),
                      score=float(spam.group(2)), threshold=float(spam.group(3)),
                      tests=tests)
