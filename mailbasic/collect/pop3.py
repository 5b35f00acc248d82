"""A POP3 client session for collection: implicit TLS, STARTTLS or plain.

The server is the customer's choice and may be hostile, so the session trusts nothing it
says: it connects only to checked addresses (destination.py), reads bounded lines and
bounded listings, streams a message to a file and stops past the size limit, and cuts
the connection when the account's time is up. Every failure becomes a CollectError that
says what kind of failure it was and never quotes the server (its banner and replies
may carry anything, up to an internal service's secrets)."""

from __future__ import annotations

import poplib
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, ParamSpec, Protocol, TypeVar, cast

from mailbasic.collect.destination import (
    Address,
    AddressRefused,
    Destinations,
    PortRefused,
    Unresolvable,
    an,
)
from mailbasic.errors import MailbasicError
from mailbasic.schema import Security

# More messages than any real mailbox lists; a server listing more is refused rather
# than allowed to fill the job's memory with its listing.
MAX_LISTED = 100_000
# How much of a line is read at once: long lines pass in pieces, memory stays bounded.
CHUNK = 64 * 1024
# RFC 1939: a UIDL is 1 to 70 characters from 0x21 to 0x7E. It is stored and logged.
_UIDL = re.compile(rb"^[\x21-\x7e]{1,70}$")
_CERTIFICATE_PROBLEMS = {10: "expired", 18: "self-signed", 19: "self-signed",
                         20: "issuer unknown", 21: "issuer unknown",
                         62: "issued for another host name", 64: "issued for another address"}


class CollectError(MailbasicError):
    """The run for this account stopped; collected messages stay collected."""


class MessageTooLarge(Exception):
    """The message grew past the size limit while it was read; the session is over
    (the rest of that answer was never read)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass(frozen=True)
class Pop3Server:
    host: str
    port: int
    security: Security
    username: str
    password: str
    timeout: float
    ca_file: str | None = None
    destinations: Destinations = Destinations()
    time_limit: float = 120.0

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Listed:
    number: int
    uidl: str
    size: int | None  # as LIST announced it; None when LIST did not name the message


class Deadline:
    """The account's time for this run. A server sending one byte at a time never trips
    a per-read timeout, so when the time is up the connection is shut down under
    whatever read is waiting."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = threading.Event()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.001, self.ends - time.monotonic())

    def watch(self, connection: socket.socket) -> None:
        # A duplicate of the descriptor: shutting it down ends the connection for the
        # TLS layer wrapped around the original too, even in the middle of a handshake.
        self._sockets.append(connection.dup())
        if self.expired.is_set():
            self._cut()

    def _cut(self) -> None:
        self.expired.set()
        for connection in self._sockets:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._timer.cancel()
        for connection in self._sockets:
            connection.close()


def _open(addresses: list[Address], port: int, timeout: float,
          deadline: Deadline) -> socket.socket:
    """A connection to the first checked address that answers (never the name again:
    the next DNS answer could point somewhere else)."""
    error: OSError = ConnectionRefusedError()
    for address in addresses:
        try:
            connection = socket.create_connection(
                (str(address), port), min(timeout, deadline.remaining()))
        except OSError as refused:
            error = refused
            continue
        deadline.watch(connection)
        return connection
    raise error


class _PinnedPOP3(poplib.POP3):
    def __init__(self, host: str, addresses: list[Address], port: int, timeout: float,
                 deadline: Deadline) -> None:
        self.addresses, self.deadline = addresses, deadline
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float) -> socket.socket:
        return _open(self.addresses, self.port, timeout, self.deadline)


class _PinnedPOP3SSL(poplib.POP3_SSL):
    """Connects to the checked address and verifies the certificate against the name."""

    def __init__(self, host: str, addresses: list[Address], port: int, timeout: float,
                 deadline: Deadline, context: ssl.SSLContext) -> None:
        self.addresses, self.deadline = addresses, deadline
        self.tls_context = context  # POP3_SSL keeps it too, as .context
        super().__init__(host, port, timeout=timeout, context=context)

    def _create_socket(self, timeout: float) -> socket.socket:
        return self.tls_context.wrap_socket(_open(self.addresses, self.port, timeout,
                                                  self.deadline), server_hostname=self.host)


class _PoplibInternals(Protocol):
    """The parts of poplib.POP3 that typeshed leaves out (they are not documented):
    mailbasic reads multi-line answers itself, bounded, and starts TLS without CAPA."""

    sock: socket.socket
    file: BinaryIO
    _tls_established: bool

    def _shortcmd(self, line: str) -> bytes: ...  # one command, its one-line answer

    def _getline(self) -> tuple[bytes, int]: ...  # one line, without its end, and its length


def _internals(client: poplib.POP3) -> _PoplibInternals:
    return cast(_PoplibInternals, client)


_T = TypeVar("_T")
_P = ParamSpec("_P")


def _tls_context(server: Pop3Server) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if server.ca_file:
        context.load_verify_locations(cafile=server.ca_file)
    return context


def _reason(server: Pop3Server, error: Exception, doing: str) -> str:
    """The kind of failure, in our words only."""
    if isinstance(error, Unresolvable):
        return "the host name does not resolve"
    if isinstance(error, AddressRefused):
        return f"the server's address is not allowed ({an(error.kind)} address)"
    if isinstance(error, PortRefused):
        return "the port is not allowed (POP3 ports only)"
    if isinstance(error, ssl.SSLCertVerificationError):
        problem = _CERTIFICATE_PROBLEMS.get(error.verify_code)
        return "TLS certificate not trusted" + (f" ({problem})" if problem else "")
    if isinstance(error, ssl.SSLError):
        return "TLS failed"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"timeout: no answer within {server.timeout:g} s"
    if isinstance(error, poplib.error_proto) and error.args in (("-ERR EOF",),
                                                                (b"-ERR EOF",)):
        return "the server closed the connection"  # poplib's words for an empty read
    if isinstance(error, poplib.error_proto) and doing == "logging in":
        return "login refused"
    if isinstance(error, poplib.error_proto):
        return "protocol error"
    if isinstance(error, (EOFError, ConnectionError)):
        return "the server closed the connection"
    return "connection failed"


class Pop3Session:
    """`with Pop3Session(server) as pop:` connects and logs in; quit() commits deletions
    (POP3 deletes only when the session ends with QUIT)."""

    def __init__(self, server: Pop3Server) -> None:
        self.server = server
        self.client: poplib.POP3 | None = None
        self.deadline: Deadline | None = None

    def __enter__(self) -> Pop3Session:
        deadline = self.deadline = Deadline(self.server.time_limit)
        try:
            addresses = self._call("connecting", self.server.destinations.check,
                                   self.server.host, self.server.port)
            self.client = self._call("connecting", self._connect, addresses, deadline)
            self._call("logging in", self._login)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.client is not None and self.client.sock is not None:
            self.client.close()
        if self.deadline is not None:
            self.deadline.close()

    def listing(self) -> list[Listed]:
        """Every message with its UIDL and announced size, in the server's order."""
        sizes = dict(self._call("listing messages", self._numbered, "LIST", _size))
        uidls = self._call("listing messages", self._numbered, "UIDL", _uidl)
        return [Listed(number, uidl, sizes.get(number)) for number, uidl in uidls]

    def retrieve_into(self, number: int, target: BinaryIO, limit: int) -> int:
        """Writes the message to `target` as SMTP's DATA wants it (CRLF, dot-stuffed, as
        POP3 sends it) and returns its size; MessageTooLarge past `limit` bytes."""
        try:
            return self._call(f"retrieving message {number}", self._retrieve, number,
                              target, limit)
        except MessageTooLarge:
            self._connected().close()  # the rest of the answer was never read: unusable
            raise

    def delete(self, number: int) -> None:
        self._call(f"deleting message {number}", self._connected().dele, number)

    def quit(self) -> None:
        self._call("ending the session", self._connected().quit)

    def _connected(self) -> poplib.POP3:
        if self.client is None:
            raise RuntimeError("Pop3Session used outside its with block: not connected")
        return self.client

    def _connect(self, addresses: list[Address], deadline: Deadline) -> poplib.POP3:
        server, timeout = self.server, min(self.server.timeout, deadline.remaining())
        if server.security is Security.TLS:
            return _PinnedPOP3SSL(server.host, addresses, server.port, timeout,
                                  deadline, _tls_context(server))
        client = _PinnedPOP3(server.host, addresses, server.port, timeout, deadline)
        if server.security is Security.STARTTLS:
            try:
                self._starttls(client)
            except BaseException:
                client.close()
                raise
        return client

    def _starttls(self, client: poplib.POP3) -> None:
        # STLS straight away, without poplib's CAPA first: one unbounded listing less.
        internals = _internals(client)
        internals._shortcmd("STLS")
        internals.sock = _tls_context(self.server).wrap_socket(
            internals.sock, server_hostname=self.server.host)
        internals.file = internals.sock.makefile("rb")  # nothing sent before TLS is read
        internals._tls_established = True

    def _login(self) -> None:
        client = self._connected()
        client.user(self.server.username)
        client.pass_(self.server.password)

    def _numbered(self, command: str, parse: Callable[[bytes], _T]) -> list[tuple[int, _T]]:
        """A multi-line answer of `NUMBER VALUE` lines, bounded."""
        client = _internals(self._connected())
        client._shortcmd(command)
        listed: list[tuple[int, _T]] = []
        while (line := client._getline()[0]) != b".":
            if len(listed) == MAX_LISTED:
                raise poplib.error_proto(f"more than {MAX_LISTED} messages listed")
            number, _, value = line.partition(b" ")
            value = value.strip()
            if not number.isdigit() or not value:
                raise poplib.error_proto("malformed listing")
            listed.append((int(number), parse(value)))
        return listed

    def _retrieve(self, number: int, target: BinaryIO, limit: int) -> int:
        client = _internals(self._connected())
        client._shortcmd(f"RETR {number}")
        size, line_start = 0, True
        while True:
            chunk = client.file.readline(CHUNK)
            if not chunk:
                raise EOFError
            if line_start and chunk in (b".\r\n", b".\n"):
                return size
            ends_line = chunk.endswith(b"\n")
            if ends_line and not chunk.endswith(b"\r\n"):
                chunk = chunk[:-1] + b"\r\n"  # a bare LF: SMTP wants CRLF
            # The stuffed dot is not part of the message.
            size += len(chunk) - (1 if line_start and chunk.startswith(b".") else 0)
            if size > limit:
                raise MessageTooLarge(size)
            target.write(chunk)
            line_start = ends_line

    def _call(self, doing: str, function: Callable[_P, _T], *arguments: _P.args,
              **keywords: _P.kwargs) -> _T:
        try:
            return function(*arguments, **keywords)
        except (OSError, EOFError, poplib.error_proto, Unresolvable, AddressRefused,
                PortRefused) as error:
            if self.deadline is not None and self.deadline.expired.is_set():
                reason = (f"the account's time limit of {self.server.time_limit:g} s ran "
                          f"out; the rest follows on the next run")
            else:
                reason = _reason(self.server, error, doing)
            raise CollectError(f"{self.server.label}: {doing}: {reason}") from None


def _size(value: bytes) -> int:
    if not value.isdigit():
        raise poplib.error_proto("malformed size")
    return int(value)


def _uidl(value: bytes) -> str:
    if not _UIDL.match(value):
        raise poplib.error_proto("malformed UIDL")
    return value.decode("ascii")
