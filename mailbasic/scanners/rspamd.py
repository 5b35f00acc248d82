"""rspamd client: HTTP POST /checkv2 (protocol v2) with the envelope as request headers.

The answer (JSON: score, required_score, action, symbols) becomes the same SpamReport
spamd's does, so the spam stage writes the same headers and the mailboxes' rules compare
the same score with their own thresholds. rspamd's action is not used: its score is
compared with REQUIRED_SCORE for X-Spam-Flag, as spamd compares with its required_score.

The failure model is spamd's: unreachable, too slow (one budget for the whole exchange,
however the server trickles) or any answer that is not the protocol raises SpamdError.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any, BinaryIO

from mailbasic.scanners.deadline import Deadline
from mailbasic.scanners.spamd import SpamdError, SpamReport

CHUNK_SIZE = 65536
MAX_ANSWER = 1024 * 1024
# SpamAssassin's required_score and the mailboxes' default spam_threshold: X-Spam-Flag
# means the same with either engine. Each mailbox's own threshold decides in the rules.
REQUIRED_SCORE = 5.0
_SYMBOL = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Envelope:
    """What rspamd learns beside the message, from the SMTP transaction."""

    sender: str                       # "" is the null sender
    recipients: tuple[str, ...]
    client_address: str = ""
    helo: str = ""
    client_name: str = ""             # the client's reverse DNS name, "" if unknown
    login: str | None = None          # the SASL login of a submission
    queue_id: str = ""
    deliver_to: str | None = None     # the one recipient's mailbox, if there is one

    def headers(self) -> Iterator[tuple[str, str]]:
        yield "From", self.sender
        for recipient in self.recipients:
            yield "Rcpt", recipient
        optional = (("IP", _ip(self.client_address)), ("Helo", self.helo),
                    ("Hostname", self.client_name or "unknown"), ("User", self.login),
                    ("Queue-Id", self.queue_id), ("Deliver-To", self.deliver_to))
        for name, value in optional:
            if value:
                yield name, value


@dataclass(frozen=True)
class RspamdResult:
    score: float
    required_score: float   # rspamd's reject score, for the record only
    action: str
    symbols: tuple[str, ...]


class RspamdClient:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    def check(self, message: BinaryIO, length: int, envelope: Envelope) -> RspamdResult:
        """Analyse `length` bytes of `message` (from its current position)."""
        headers = [(name, _header_value(name, value)) for name, value in envelope.headers()]
        try:
            return parse_answer(self._exchange(headers, message, length))
        except (OSError, http.client.HTTPException) as error:   # timeouts are OSErrors
            raise SpamdError(f"rspamd at {self.host}:{self.port}: "
                             f"{error or type(error).__name__}") from error

    def _exchange(self, headers: list[tuple[str, bytes]], message: BinaryIO,
                  length: int) -> bytes:
        deadline = Deadline(self.timeout)
        connection = _DeadlineConnection(self.host, self.port, deadline)
        try:
            connection.putrequest("POST", "/checkv2", skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(length))
            connection.endheaders()
            remaining = length
            while remaining:
                chunk = message.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise SpamdError("message shorter than its announced length")
                connection.send(chunk)
                remaining -= len(chunk)
            response = connection.getresponse()
            body = response.read(MAX_ANSWER + 1)
            if len(body) > MAX_ANSWER:
                raise SpamdError("rspamd answer too long")
            if response.status != 200:
                raise SpamdError(f"rspamd answered HTTP {response.status}: {body[:120]!r}")
            return body
        finally:
            connection.close()


class _DeadlineConnection(http.client.HTTPConnection):
    """http.client over a socket whose every send and receive gets what is left of one
    budget, so that a server trickling its answer cannot stretch the timeout."""

    def __init__(self, host: str, port: int, deadline: Deadline) -> None:
        super().__init__(host, port)
        self.deadline = deadline

    def connect(self) -> None:
        raw = self.deadline.connect(self.host, self.port)
        self.sock = _DeadlineSocket(raw, self.deadline)


class _DeadlineSocket(socket.socket):
    def __init__(self, raw: socket.socket, deadline: Deadline) -> None:
        super().__init__(raw.family, raw.type, raw.proto, fileno=raw.detach())
        self.deadline = deadline

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.settimeout(self.deadline.remaining())
        super().sendall(data, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(self.deadline.remaining())
        return super().recv_into(buffer, nbytes, flags)


def _ip(address: str) -> str | None:
    """The client's IP address; None for what is none ("unknown", a unix socket)."""
    try:
        return str(ip_address(address.removeprefix("IPv6:")))
    except ValueError:
        return None


def _header_value(name: str, value: str) -> bytes:
    if _CONTROL.search(value):
        raise ValueError(f"unsafe rspamd {name} header {value!r}")
    return value.encode("utf-8")


def parse_answer(answer: bytes) -> RspamdResult:
    try:
        data = json.loads(answer)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SpamdError(f"not a JSON answer from rspamd: {answer[:80]!r}") from None
    if not isinstance(data, dict):
        raise SpamdError(f"not an rspamd answer: {answer[:80]!r}")
    if "error" in data:
        raise SpamdError(f"rspamd refused: {str(data['error'])[:200]}")
    action, symbols = data.get("action"), data.get("symbols", {})
    if not isinstance(action, str) or not isinstance(symbols, dict):
        raise SpamdError(f"rspamd answer without action and symbols: {answer[:200]!r}")
    if not all(isinstance(name, str) and _SYMBOL.match(name) for name in symbols):
        raise SpamdError(f"rspamd answer with malformed symbol names: {answer[:200]!r}")
    return RspamdResult(_number(data, "score"), _number(data, "required_score"), action,
                        tuple(sorted(symbols)))


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if (not isinstance(value, int | float) or isinstance(value, bool)
            or not math.isfinite(value)):
        raise SpamdError(f"rspamd answer without a number for {key}: {str(data)[:200]}")
    return float(value)


def to_report(result: RspamdResult) -> SpamReport:
    """rspamd's result as spamd's: its score against REQUIRED_SCORE, its symbols as the
    test names (sorted, as SpamAssassin lists them)."""
    return SpamReport(is_spam=result.score >= REQUIRED_SCORE, score=result.score,
                      threshold=REQUIRED_SCORE, tests=result.symbols)
