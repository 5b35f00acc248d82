"""The ManageSieve server's states before a login reaches the database: greeting,
refusals before TLS, STARTTLS with the capabilities again, SASL PLAIN through a stand-in
for Dovecot's auth socket. In process, on a loopback port of the test's own."""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mailbasic.config import Settings
from mailbasic.managesieve.server import Connection, tls_context

HANDSHAKE = b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nDONE\n"
PLAIN = base64.b64encode(b"\0dora@example.net\0secret")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    key, certificate = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(certificate), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return certificate, key


async def fake_dovecot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts the password "secret" only."""
    writer.write(HANDSHAKE)
    await reader.readuntil(b"\n")
    await reader.readuntil(b"\n")
    request = await reader.readuntil(b"\n")
    writer.write(b"OK\t1\tuser=dora@example.net\n" if b"resp=" + PLAIN in request
                 else b"FAIL\t1\n")
    await writer.drain()
    writer.close()


class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def response(self) -> bytes:
        received = b""
        while not received.endswith(b"\r\n") or not received.split(b"\r\n")[-2].startswith(
                (b"OK", b"NO", b"BYE")):
            received += await self.reader.readline()
        return received

    async def send(self, line: bytes) -> bytes:
        self.writer.write(line + b"\r\n")
        return await self.response()


def run_session(tmp_path: Path, certificate: tuple[Path, Path], script) -> None:
    settings = replace(Settings(), managesieve_auth_socket=str(tmp_path / "auth"),
                       managesieve_certificate=str(certificate[0]),
                       managesieve_key=str(certificate[1]))

    async def main() -> None:
        auth = await asyncio.start_unix_server(fake_dovecot, settings.managesieve_auth_socket)
        context = tls_context(settings)
        engine: Any = None   # these commands never reach the database

        async def connected(reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
            await Connection(reader, writer, settings, engine, context).serve()

        server = await asyncio.start_server(connected, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with auth, server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            session = Session(reader, writer)
            await script(session)
            writer.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_authenticate_before_starttls_is_refused_and_nothing_else_opens(tmp_path,
                                                                       certificate):
    async def script(session: Session) -> None:
        greeting = await session.response()
        assert b'"STARTTLS"\r\n' in greeting and b'"SASL" ""\r\n' in greeting
        assert greeting.endswith(b'OK "mailbasic ready"\r\n')
        refused = await session.send(b'AUTHENTICATE "PLAIN" "' + PLAIN + b'"')
        assert refused.startswith(b"NO (ENCRYPT-NEEDED) ")
        assert (await session.send(b'GETSCRIPT "x"')).startswith(b"NO ")
        assert (await session.send(b"FROBNICATE")).startswith(b'NO "unknown command')
        assert (await session.send(b'PUTSCRIPT "a"')).startswith(b"NO ")  # bad arguments
        assert await session.send(b"LOGOUT") == b'OK "logout"\r\n'

    run_session(tmp_path, certificate, script)


def test_starttls_gives_the_capabilities_again_and_plain_logs_in(tmp_path, certificate,
                                                                 caplog):
    async def script(session: Session) -> None:
        await session.response()
        assert await session.send(b"STARTTLS") == b'OK "begin TLS negotiation"\r\n'
        await session.writer.start_tls(client_context(certificate),
                                       server_hostname="localhost")
        capabilities = await session.response()
        assert b'"SASL" "PLAIN"' in capabilities and b"STARTTLS" not in capabilities
        wrong = base64.b64encode(b"\0dora@example.net\0wrong")
        assert await session.send(b'AUTHENTICATE "PLAIN" "' + wrong + b'"') == \
            b'NO "authentication failed"\r\n'
        # Without an initial response: an empty challenge, the answer as a literal.
        session.writer.write(b'AUTHENTICATE "PLAIN"\r\n')
        assert await session.reader.readline() == b'""\r\n'
        assert await session.send(b"{%d+}\r\n" % len(PLAIN) + PLAIN) == \
            b'OK "logged in"\r\n'
        assert await session.send(b'NOOP "x"') == b'OK (TAG "x") "done"\r\n'

    caplog.set_level("INFO", "mailbasic.managesieve")
    run_session(tmp_path, certificate, script)
    assert [record.getMessage() for record in caplog.records] == [
        "login: client=127.0.0.1 login=<dora@example.net> verdict=refused "
        "reason=Dovecot refused",
        "login: client=127.0.0.1 login=<dora@example.net> verdict=ok reason=Dovecot accepted"]


def test_a_cancelled_sasl_exchange_is_refused(tmp_path, certificate):
    async def script(session: Session) -> None:
        await session.response()
        await session.send(b"STARTTLS")
        await session.writer.start_tls(client_context(certificate),
                                       server_hostname="localhost")
        await session.response()
        session.writer.write(b'AUTHENTICATE "PLAIN"\r\n')
        await session.reader.readline()
        assert (await session.send(b'"*"')).startswith(b"NO ")
        assert (await session.send(b"LISTSCRIPTS")).startswith(b"NO ")

    run_session(tmp_path, certificate, script)
