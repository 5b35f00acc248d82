"""The ManageSieve server: one asyncio task per connection, the protocol's states
(plain, TLS, logged in) here; what a command does to the scripts is scripts.py's, run in
a thread inside one database transaction per command.

One log line per decision: a login's verdict, and each changing command's outcome.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mailbasic import db
from mailbasic.config import Settings
from mailbasic.errors import DatabaseUnavailable, MailbasicError
from mailbasic.managesieve import protocol
from mailbasic.managesieve.auth import AuthUnavailable, Client, authenticate_plain
from mailbasic.managesieve.protocol import Command, ProtocolError, response
from mailbasic.managesieve.scripts import Refusal, Scripts
from mailbasic.rules import sieve
from mailbasic.rules.service import MAX_FILTER_REDIRECTS

log = logging.getLogger("mailbasic.managesieve")

IDLE_SECONDS = 1800      # RFC 5804 leaves it to the server; IMAP's is 30 minutes too
READ_SIZE = 65536
MAX_BAD_COMMANDS = 10    # then BYE: a client that does not speak ManageSieve
Arguments = tuple[str | int, ...]

# A command's arguments: "s" a string, "n" a number, "?" optional ones after.
SIGNATURES = {"CAPABILITY": "", "STARTTLS": "", "AUTHENTICATE": "s?s", "LOGOUT": "",
              "NOOP": "?s", "LISTSCRIPTS": "", "GETSCRIPT": "s", "PUTSCRIPT": "ss",
              "CHECKSCRIPT": "s", "SETACTIVE": "s", "DELETESCRIPT": "s",
              "RENAMESCRIPT": "ss", "HAVESPACE": "sn"}
BEFORE_LOGIN = {"CAPABILITY", "STARTTLS", "AUTHENTICATE", "LOGOUT", "NOOP"}


class Closed(Exception):
    """The client went away, or said LOGOUT, or was told BYE."""


def capabilities(tls_active: bool, logged_in: bool) -> bytes:
    """RFC 5804 1.7. SASL is empty before TLS: PLAIN is refused there anyway."""
    lines = [protocol.line("IMPLEMENTATION", "mailbasic"),
             protocol.line("SIEVE", " ".join(sorted(sieve.CAPABILITIES
                                                     | sieve.DATE_CAPABILITIES))),
             protocol.line("NOTIFY", "mailto"),
             protocol.line("MAXREDIRECTS", str(MAX_FILTER_REDIRECTS)),
             protocol.line("SASL", "PLAIN" if tls_active and not logged_in else ""),
             protocol.line("VERSION", "1.0")]
    if not tls_active:
        lines.append(protocol.line("STARTTLS"))
    return b"".join(lines)


def check_arguments(command: Command) -> None:
    signature = SIGNATURES[command.name]
    required, _, optional = signature.partition("?")
    given = command.arguments
    if not len(required) <= len(given) <= len(required) + len(optional):
        raise ProtocolError(f"{command.name} takes {len(required)} argument(s)")
    for kind, value in zip(required + optional, given, strict=False):
        if (kind == "n") != isinstance(value, int):
            raise ProtocolError(f"{command.name}: argument {value!r} must be a "
                                + ("number" if kind == "n" else "string"))


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 settings: Settings, engine: Engine, tls: ssl.SSLContext) -> None:
        self.reader, self.writer, self.settings = reader, writer, settings
        self.engine, self.tls = engine, tls
        peer, local = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
        self.client = Client(str(peer[0]) if peer else "-", str(local[0]) if local else "-")
        self.buffer = b""
        self.tls_active = False
        self.login: str | None = None
        self.bad_commands = 0

    async def serve(self) -> None:
        try:
            self.writer.write(capabilities(False, False) + response("OK", "mailbasic ready"))
            while True:
                await self._one_command()
        except (TimeoutError, Closed, ConnectionError, ssl.SSLError):
            pass
        except Exception:  # the boundary: one connection's fault ends only that one
            log.exception("connection: client=%s login=<%s> verdict=closed reason=internal "
                          "error", self.client.remote_ip, self.login or "-")
            self.writer.write(response("BYE", "internal error"))
        finally:
            self.writer.close()

    async def _one_command(self) -> None:
        await self.writer.drain()
        command = await self._read(protocol.next_command)
        if isinstance(command, ProtocolError):
            return await self._bad(str(command))
        if command.name not in SIGNATURES:
            return await self._bad(f"unknown command {command.name}")
        try:
            check_arguments(command)
        except ProtocolError as error:
            return await self._bad(str(error))
        if self.login is None and command.name not in BEFORE_LOGIN:
            self.writer.write(response("NO", "log in first (STARTTLS, then AUTHENTICATE)"))
            return
        handler: Callable[[Arguments], Awaitable[None]] = getattr(
            self, "do_" + command.name.lower())
        await handler(command.arguments)

    async def _read(self, parse: Callable[[bytes], tuple[Any, int] | None]) -> Any:
        """The next thing `parse` finds in the stream, reading as much as it needs."""
        while (found := parse(self.buffer)) is None:
            data = await asyncio.wait_for(self.reader.read(READ_SIZE), IDLE_SECONDS)
            if not data:
                raise Closed
            self.buffer += data
        value, used = found
        self.buffer = self.buffer[used:]
        return value

    async def _bad(self, reason: str) -> None:
        self.bad_commands += 1
        if self.bad_commands > MAX_BAD_COMMANDS:
            self.writer.write(response("BYE", "too many bad commands"))
            raise Closed
        self.writer.write(response("NO", reason))

    # -- before login ---------------------------------------------------------------------

    async def do_capability(self, _: Arguments) -> None:
        self.writer.write(capabilities(self.tls_active, self.login is not None)
                          + response("OK", "capabilities"))

    async def do_noop(self, arguments: Arguments) -> None:
        code = "TAG " + protocol.string(str(arguments[0])).decode() if arguments else ""
        self.writer.write(response("OK", "done", code))

    async def do_logout(self, _: Arguments) -> None:
        self.writer.write(response("OK", "logout"))
        await self.writer.drain()
        raise Closed

    async def do_starttls(self, _: Arguments) -> None:
        if self.tls_active:
            self.writer.write(response("NO", "TLS is active already"))
            return
        if self.buffer:  # what came before the handshake must not count as encrypted
            self.writer.write(response("BYE", "data after STARTTLS"))
            raise Closed
        self.writer.write(response("OK", "begin TLS negotiation"))
        await self.writer.drain()
        await self.writer.start_tls(self.tls)
        self.tls_active = True
        # RFC 5804 2.2: the capabilities again, now over TLS.
        self.writer.write(capabilities(True, False) + response("OK", "TLS active"))

    async def do_authenticate(self, arguments: Arguments) -> None:
        mechanism = str(arguments[0]).upper()
        if not self.tls_active:
            self._log_login("-", "refused", "before STARTTLS")
            self.writer.write(response("NO", "STARTTLS first: no password goes over an "
                                       "unencrypted connection", "ENCRYPT-NEEDED"))
            return
        if self.login is not None or mechanism != "PLAIN":
            self.writer.write(response("NO", "logged in already" if self.login else
                                       "the SASL mechanism is PLAIN"))
            return
        initial = arguments[1] if len(arguments) > 1 else await self._client_response()
        await self._authenticate(str(initial))

    async def _client_response(self) -> str:
        self.writer.write(b'""\r\n')   # SASL PLAIN: an empty challenge
        await self.writer.drain()
        return str(await self._read(_response_line))

    async def _authenticate(self, encoded: str) -> None:
        try:
            plain = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            plain = b""
        if not plain:
            self.writer.write(response("NO", "authentication cancelled or not base64"))
            return
        try:
            user = await authenticate_plain(self.settings.managesieve_auth_socket,
                                            self.client, plain)
        except AuthUnavailable as error:
            self._log_login("-", "tempfail", str(error))
            self.writer.write(response("NO", "authentication unavailable, try later",
                                       "TRYLATER"))
            return
        self._log_login(user or _plain_login(plain), "ok" if user else "refused",
                        "Dovecot accepted" if user else "Dovecot refused")
        if user is None:
            self.writer.write(response("NO", "authentication failed"))
            return
        self.login = user
        self.writer.write(response("OK", "logged in"))

    def _log_login(self, login: str, verdict: str, reason: str) -> None:
        log.info("login: client=%s login=<%s> verdict=%s reason=%s", self.client.remote_ip,
                 login, verdict, reason)

    # -- logged in ------------------------------------------------------------------------

    async def do_listscripts(self, _: Arguments) -> None:
        listed = await self._on_scripts("LISTSCRIPTS", lambda scripts: scripts.listing())
        if listed is not None:
            self.writer.write(b"".join(protocol.line(script.name, atom="ACTIVE" if
                                                     script.active else "")
                                       for script in listed) + response("OK", "listed"))

    async def do_getscript(self, arguments: Arguments) -> None:
        name = str(arguments[0])
        text = await self._on_scripts("GETSCRIPT", lambda scripts: scripts.text_of(name))
        if text is not None:
            octets = text.encode("utf-8")
            self.writer.write(b"{%d}\r\n" % len(octets) + octets + b"\r\n"
                              + response("OK", "script"))

    async def do_putscript(self, arguments: Arguments) -> None:
        name, text = str(arguments[0]), str(arguments[1])
        await self._change("PUTSCRIPT", name, lambda scripts: scripts.put(name, text))

    async def do_checkscript(self, arguments: Arguments) -> None:
        text = str(arguments[0])
        if await self._on_scripts("CHECKSCRIPT", lambda scripts: scripts.check(text)) \
                is not None:
            self.writer.write(response("OK", "the script is valid"))

    async def do_setactive(self, arguments: Arguments) -> None:
        name = str(arguments[0])
        await self._change("SETACTIVE", name, lambda scripts: scripts.activate(name))

    async def do_deletescript(self, arguments: Arguments) -> None:
        name = str(arguments[0])
        await self._change("DELETESCRIPT", name, lambda scripts: scripts.delete(name))

    async def do_renamescript(self, arguments: Arguments) -> None:
        old, new = str(arguments[0]), str(arguments[1])
        await self._change("RENAMESCRIPT", f"{old} -> {new}",
                           lambda scripts: scripts.rename(old, new))

    async def do_havespace(self, arguments: Arguments) -> None:
        name, size = str(arguments[0]), int(arguments[1])
        if await self._on_scripts("HAVESPACE",
                                  lambda scripts: scripts.have_space(name, size)) is not None:
            self.writer.write(response("OK", "there is space"))

    async def _change(self, verb: str, name: str, change: Callable[[Scripts], None]) -> None:
        if await self._on_scripts(verb, change, log_name=name) is not None:
            self.writer.write(response("OK", f"{verb} done"))

    async def _on_scripts(self, verb: str, action: Callable[[Scripts], Any],
                          log_name: str | None = None) -> Any:
        """action's result (True for None), or None once a NO went out for it."""
        assert self.login is not None
        try:
            result = await asyncio.to_thread(_in_transaction, self.engine, self.login,
                                             self.settings.managesieve_default_script, action)
        except Refusal as refusal:
            self._log_change(verb, log_name, "refused", refusal.text)
            self.writer.write(response("NO", refusal.text, refusal.code))
            return None
        except (SQLAlchemyError, DatabaseUnavailable) as error:
            log.error("%s: login=<%s> verdict=tempfail reason=database unavailable (%s)",
                      verb, self.login, str(error).splitlines()[0])
            self.writer.write(response("NO", "the database is unavailable, try later",
                                       "TRYLATER"))
            return None
        except MailbasicError as error:
            self._log_change(verb, log_name, "refused", str(error))
            self.writer.write(response("NO", str(error)))
            return None
        self._log_change(verb, log_name, "ok", "-")
        return True if result is None else result

    def _log_change(self, verb: str, name: str | None, verdict: str, reason: str) -> None:
        if name is not None or verdict != "ok":
            log.info("%s: client=%s login=<%s> script=%r verdict=%s reason=%s", verb,
                     self.client.remote_ip, self.login, name, verdict, reason)


def _plain_login(plain: bytes) -> str:
    """The login a refused SASL PLAIN response named, for the log line."""
    parts = plain.split(b"\0")
    return parts[1].decode("utf-8", "replace") if len(parts) == 3 else "-"


def _in_transaction(engine: Engine, login: str, default_name: str,
                    action: Callable[[Scripts], Any]) -> Any:
    with db.transaction(engine) as session:
        return action(Scripts(session, login, default_name))


def _response_line(buffer: bytes) -> tuple[str, int] | None:
    """The client's answer to a SASL challenge: a string and CRLF; "" for anything else
    on that line (its "*" cancels), once the line is complete."""
    try:
        found = protocol.parse_argument(buffer, 0)
    except ProtocolError:
        return _whole_line_refused(buffer, 0)
    if found is None or len(buffer) < found[1] + 2:
        return None
    value, end = found
    if not buffer.startswith(b"\r\n", end):
        return _whole_line_refused(buffer, end)
    return str(value), end + 2


def _whole_line_refused(buffer: bytes, start: int) -> tuple[str, int] | None:
    line_end = buffer.find(b"\r\n", start)
    return ("", line_end + 2) if line_end >= 0 else None


# -- the listener -------------------------------------------------------------------------

def tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.managesieve_certificate, settings.managesieve_key)
    return context


def listen_address(socket: str) -> tuple[str, int]:
    """inet:PORT@HOST as (HOST, PORT)."""
    port, _, host = socket.removeprefix("inet:").partition("@")
    return host, int(port)


async def serve(settings: Settings) -> None:
    engine, context = db.make_engine(settings), tls_context(settings)
    host, port = listen_address(settings.managesieve_socket)

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(reader, writer, settings, engine, context).serve()

    server = await asyncio.start_server(connected, host, port, limit=READ_SIZE)
    log.info("managesieve: listening on %s:%d, logins through %s", host, port,
             settings.managesieve_auth_socket)
    async with server:
        await server.serve_forever()


def run(settings: Settings) -> None:
    asyncio.run(serve(settings))
