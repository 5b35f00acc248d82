"""A POP3 client session for collection: implicit TLS, STARTTLS or plain; every failure
becomes a CollectError whose text goes into the account's status as it is."""

from __future__ import annotations

import poplib
import socket
import ssl
from dataclasses import dataclass

from mailbasic.errors import MailbasicError
from mailbasic.schema import Security


class CollectError(MailbasicError):
    """The run for this account stopped; collected messages stay collected."""


@dataclass(frozen=True)
class Pop3Server:
    host: str
    port: int
    security: Security
    username: str
    password: str
    timeout: float
    ca_file: str | None = None

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


def _tls_context(server: Pop3Server) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if server.ca_file:
        context.load_verify_locations(cafile=server.ca_file)
    return context


def _explain(server: Pop3Server, error: Exception, doing: str) -> CollectError:
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = f"TLS failed: certificate verify failed: {error.verify_message}"
    elif isinstance(error, ssl.SSLError):
        reason = f"TLS failed: {error.reason or error}"
    elif isinstance(error, (socket.timeout, TimeoutError)):
        reason = f"no answer within {server.timeout:g} s"
    elif isinstance(error, poplib.error_proto) and error.args in (("-ERR EOF",),
                                                                  (b"-ERR EOF",)):
        reason = "the server closed the connection"  # poplib's words for an empty read
    elif isinstance(error, poplib.error_proto):
        reason = f"the server answered {error.args[0]!r}" if error.args else "protocol error"
    elif isinstance(error, (EOFError, ConnectionError)):
        reason = "the server closed the connection"
    else:
        reason = str(error) or type(error).__name__
    return CollectError(f"{server.label}: {doing}: {reason}")


class Pop3Session:
    """`with Pop3Session(server) as pop:` connects and logs in; quit() commits deletions
    (POP3 deletes only when the session ends with QUIT)."""

    def __init__(self, server: Pop3Server) -> None:
        self.server = server
        self.client: poplib.POP3 | None = None

    def __enter__(self) -> Pop3Session:
        self.client = self._call("connecting", self._connect)
        self._call("logging in", self._login)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.client is not None and self.client.sock is not None:
            self.client.close()

    def uidls(self) -> list[tuple[int, str]]:
        _, lines, _ = self._call("listing messages", self.client.uidl)
        listed = []
        for line in lines:
            number, uidl = line.decode("ascii", "replace").split(" ", 1)
            listed.append((int(number), uidl.strip()))
        return listed

    def retrieve(self, number: int) -> bytes:
        _, lines, _ = self._call(f"retrieving message {number}", self.client.retr, number)
        return b"\r\n".join(lines) + b"\r\n"

    def delete(self, number: int) -> None:
        self._call(f"deleting message {number}", self.client.dele, number)

    def quit(self) -> None:
        self._call("ending the session", self.client.quit)

    def _connect(self) -> poplib.POP3:
        server = self.server
        if server.security is Security.TLS:
            return poplib.POP3_SSL(server.host, server.port, timeout=server.timeout,
                                   context=_tls_context(server))
        client = poplib.POP3(server.host, server.port, timeout=server.timeout)
        if server.security is Security.STARTTLS:
            try:
                client.stls(_tls_context(server))
            except BaseException:
                client.close()
                raise
        return client

    def _login(self) -> None:
        self.client.user(self.server.username)
        self.client.pass_(self.server.password)

    def _call(self, doing: str, function, *arguments):
        try:
            return function(*arguments)
        except (OSError, EOFError, poplib.error_proto) as error:
            raise _explain(self.server, error, doing) from None
