"""Dovecot's authentication client protocol (the one Postfix speaks to Dovecot's auth
socket): one connection per login, so a stuck login holds nothing of another's.

Dovecot checks the password against its passdbs and asks the authentication policy
(mailbasic auth-policy) first, so ManageSieve logins count in the brute-force defence
like IMAP's. Handshake: VERSION and CPID from us, VERSION, MECH..., DONE from Dovecot;
then AUTH with an id, and OK or FAIL for that id.
"""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass

TIMEOUT = 70.0   # Dovecot's own limit is a minute, its policy may delay a login 15 s
SERVICE = "sieve"


class AuthUnavailable(Exception):
    """Dovecot's auth did not answer as its protocol says: the login fails temporarily."""


@dataclass(frozen=True)
class Client:
    """Where the login comes from, for Dovecot's policy and its log."""

    remote_ip: str
    local_ip: str


async def authenticate_plain(socket_path: str, client: Client, initial: bytes) -> str | None:
    """The login (Dovecot's user name) whose SASL PLAIN response this is, or None."""
    try:
        return await asyncio.wait_for(_ask(socket_path, client, initial), TIMEOUT)
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as error:
        raise AuthUnavailable(f"Dovecot's auth on {socket_path}: {error!r}") from None


async def _ask(socket_path: str, client: Client, initial: bytes) -> str | None:
    reader, writer = await asyncio.open_unix_connection(socket_path)
    try:
        writer.write(f"VERSION\t1\t2\nCPID\t{os.getpid()}\n".encode())
        await _handshake(reader)
        writer.write(auth_request(client, initial))
        return parse_answer(await reader.readuntil(b"\n"))
    finally:
        writer.close()


async def _handshake(reader: asyncio.StreamReader) -> None:
    first = await reader.readuntil(b"\n")
    if not first.startswith(b"VERSION\t1\t"):
        raise AuthUnavailable(f"not Dovecot's auth protocol 1: {first[:40]!r}")
    while await reader.readuntil(b"\n") != b"DONE\n":
        pass


def auth_request(client: Client, initial: bytes) -> bytes:
    # "secured": the client reached us over TLS (the server allows nothing else), so
    # Dovecot's disable_plaintext_auth lets the plaintext mechanism through.
    fields = ["AUTH", "1", "PLAIN", f"service={SERVICE}", "secured",
              f"lip={client.local_ip}", f"rip={client.remote_ip}",
              "resp=" + base64.b64encode(initial).decode()]
    return "\t".join(fields).encode() + b"\n"


def parse_answer(line: bytes) -> str | None:
    """OK's user, None for FAIL; anything else (CONT for PLAIN) is not Dovecot's way."""
    words = line.rstrip(b"\n").decode("utf-8", "replace").split("\t")
    if len(words) >= 2 and words[0] == "FAIL" and words[1] == "1":
        return None
    if len(words) >= 2 and words[0] == "OK" and words[1] == "1":
        users = [word[5:] for word in words[2:] if word.startswith("user=")]
        if users:
            return users[0]
    raise AuthUnavailable(f"unexpected answer from Dovecot's auth: {line[:80]!r}")
