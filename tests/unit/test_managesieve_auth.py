"""The Dovecot auth client against a stand-in for Dovecot's auth socket that speaks the
protocol's handshake, so the exchange (not only its lines) is checked."""

import asyncio
from pathlib import Path

import pytest

from mailbasic.managesieve.auth import AuthUnavailable, Client, authenticate_plain

HANDSHAKE = (b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
             b"SPID\t4242\nCUID\t7\nCOOKIE\t0123456789abcdef\nDONE\n")
CLIENT = Client("192.0.2.7", "127.0.0.1")


async def ask(socket: Path, answer: bytes, initial: bytes = b"\0dora\0secret") -> tuple:
    received: list[bytes] = []

    async def dovecot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HANDSHAKE)
        received.append(await reader.readuntil(b"\n"))   # VERSION
        received.append(await reader.readuntil(b"\n"))   # CPID
        received.append(await reader.readuntil(b"\n"))   # AUTH
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(dovecot, str(socket))
    async with server:
        try:
            return await authenticate_plain(str(socket), CLIENT, initial), received
        finally:
            server.close()


def test_dovecots_ok_gives_the_user(tmp_path):
    user, received = asyncio.run(ask(tmp_path / "auth", b"OK\t1\tuser=dora@example.net\n"))
    assert user == "dora@example.net"
    assert received[0] == b"VERSION\t1\t2\n" and received[1].startswith(b"CPID\t")
    assert received[2].startswith(b"AUTH\t1\tPLAIN\tservice=sieve\tsecured\t")
    assert received[2].endswith(b"resp=AGRvcmEAc2VjcmV0\n")


def test_dovecots_fail_gives_none(tmp_path):
    user, _ = asyncio.run(ask(tmp_path / "auth", b"FAIL\t1\tuser=dora\n"))
    assert user is None


def test_no_auth_socket_is_a_temporary_failure(tmp_path):
    with pytest.raises(AuthUnavailable):
        asyncio.run(authenticate_plain(str(tmp_path / "missing"), CLIENT, b"\0a\0b"))


def test_a_closed_connection_is_a_temporary_failure(tmp_path):
    with pytest.raises(AuthUnavailable):
        asyncio.run(ask(tmp_path / "auth", b""))
