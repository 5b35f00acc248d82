"""One brute-force defence for every protocol, through the real Dovecot and Postfix: 100
wrong passwords over IMAP, POP3 and submission (SMTP AUTH through Postfix) from an
attacker's address (127.0.0.2) are slowed, then refused without being checked, while the
owner, from the address they logged in from before (127.0.0.3), still logs in with the
right password. `auth blocks` lists the blocks, `auth unblock` lifts them, the daemon's
log has each decision in one line. The stack's limits (tests/conftest.py): 3 free
failures, delays up to 4 s, a block at 10 failures for a client or an account.

All of 127.0.0.0/8 is loopback on Linux: binding a client's socket to 127.0.0.2 makes it
another client address for Dovecot and Postfix."""

from __future__ import annotations

import imaplib
import json
import poplib
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import pytest

from mailbasic.devstack.process import wait_until
from tests.conftest import Cli, start

HOST = "127.0.0.1"
ATTACKER, OWNER, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4"
PASSWORD = "the owner's long secret"
TRIES = 100
BLOCK_AT = 10          # tests/conftest.py's AUTH_POLICY_LIMITS
REFUSAL = "Too many failed logins"
# Postfix's own limit of AUTH commands per client and minute (postfix_auth_rate_limit)
# may answer some of the attacker's SMTP tries first: unchecked too.
POSTFIX_LIMIT = "too many AUTH commands"


@dataclass(frozen=True)
class Try:
    protocol: str
    outcome: str          # "OK", or the server's refusal as the client sees it
    seconds: float

    @property
    def refused_by_policy(self) -> bool:
        return REFUSAL in self.outcome

    @property
    def refused_unchecked(self) -> bool:
        return self.refused_by_policy or POSTFIX_LIMIT in self.outcome


class BoundImap(imaplib.IMAP4_SSL):
    source = HOST

    def _create_socket(self, timeout: float | None) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout,
                                       source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(raw, server_hostname=self.host)


class BoundPop3(poplib.POP3_SSL):
    source = HOST

    def _create_socket(self, timeout: float) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout,
                                       source_address=(self.source, 0))
        return self.context.wrap_socket(raw, server_hostname=self.host)


def imap(stack, context: ssl.SSLContext, source: str, user: str, password: str) -> str:
    client = type("Imap", (BoundImap,), {"source": source})(
        HOST, stack.ports.imaps, ssl_context=context, timeout=60)
    try:
        client.login(user, password)
        return "OK"
    except imaplib.IMAP4.error as error:
        return str(error)
    finally:
        client.shutdown()


def pop3(stack, context: ssl.SSLContext, source: str, user: str, password: str) -> str:
    client = type("Pop3", (BoundPop3,), {"source": source})(
        HOST, stack.ports.pop3s, context=context, timeout=60)
    try:
        client.user(user)
        client.pass_(password)
        return "OK"
    except poplib.error_proto as error:
        return str(error)
    finally:
        client.close()


def smtp(stack, context: ssl.SSLContext, source: str, user: str, password: str) -> str:
    """One AUTH PLAIN (smtplib's login() would try LOGIN too: two tries)."""
    with smtplib.SMTP(HOST, stack.ports.submission, timeout=60,
                      source_address=(source, 0)) as client:
        client.starttls(context=context)
        client.ehlo()
        client.user, client.password = user, password
        try:
            client.auth("PLAIN", client.auth_plain)
            return "OK"
        except smtplib.SMTPAuthenticationError as error:
            return f"{error.smtp_code} {error.smtp_error.decode()}"


PROTOCOLS: dict[str, Callable[..., str]] = {"imap": imap, "pop3": pop3, "smtp": smtp}


def attempt(stack, context, protocol: str, source: str, user: str, password: str) -> Try:
    began = time.monotonic()
    outcome = PROTOCOLS[protocol](stack, context, source, user, password)
    return Try(protocol, outcome, time.monotonic() - began)


@pytest.fixture
def owner(postfix, tmp_path, tls_context) -> tuple[Cli, str]:
    """A mailbox in the stack's database, whose owner logged in once from OWNER."""
    tag = uuid.uuid4().hex[:8]
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path)
    cli.ok("domain", "add", f"brute{tag}.example")
    cli.ok("customer", "add", f"owner{tag}", "--domain", f"brute{tag}.example",
           "--password-stdin", input=PASSWORD + "\n")
    user = f"owner{tag}@brute{tag}.example"
    assert imap(postfix, tls_context, OWNER, user, PASSWORD) == "OK"
    return cli, user


def test_an_attacker_is_slowed_then_blocked_the_owner_still_logs_in(postfix, owner,
                                                                     tls_context):
    cli, user = owner
    began = time.monotonic()
    tries, owner_while_slowed = guess_until_refused(postfix, tls_context, user)
    blocked_after = time.monotonic() - began
    checked, refused = tries[:-1], tries[-1:]
    assert len(checked) == BLOCK_AT, decisions(postfix, user)
    assert_slowed(checked)
    rest, rest_seconds = guess_at_once(postfix, tls_context, user, first=len(tries))
    refused += rest
    owner_while_blocked = [attempt(postfix, tls_context, protocol, OWNER, user, PASSWORD)
                           for protocol in PROTOCOLS]
    assert len(checked) + len(refused) == TRIES
    assert all(found.refused_unchecked for found in refused), [
        found.outcome for found in refused if not found.refused_unchecked]
    assert {found.protocol for found in refused if found.refused_by_policy} == set(PROTOCOLS)
    owner_tries = owner_while_slowed + owner_while_blocked
    assert [found.outcome for found in owner_tries] == ["OK"] * 6
    assert max(found.seconds for found in owner_tries) < 1.5      # never held back
    # The account is blocked for places it never logged in from.
    assert attempt(postfix, tls_context, "imap", STRANGER, user, PASSWORD).refused_by_policy
    report(tries, rest, rest_seconds, owner_tries, blocked_after)

    blocks = json.loads(cli.ok("auth", "blocks", "--json").stdout)
    mine = {(block["scope"], block["key"]): block for block in blocks
            if block["key"] in (ATTACKER, user)}
    assert set(mine) == {("client", ATTACKER), ("account", user)}
    assert mine[("client", ATTACKER)]["failures"] == BLOCK_AT
    assert "lifted: account" in cli.ok("auth", "unblock", user).stdout
    assert attempt(postfix, tls_context, "pop3", STRANGER, user, PASSWORD).outcome == "OK"
    assert attempt(postfix, tls_context, "imap", ATTACKER, user, PASSWORD).refused_by_policy
    assert "lifted: client 127.0.0.2" in cli.ok("auth", "unblock", ATTACKER).stdout
    assert attempt(postfix, tls_context, "imap", ATTACKER, user, PASSWORD).outcome == "OK"
    # Every try Dovecot saw after the block, and the one after the account's unblock.
    assert_logged(postfix, user, refused=sum(found.refused_by_policy for found in refused) + 1)


def guess_until_refused(stack, context, user: str) -> tuple[list[Try], list[Try]]:
    """One guess after the other, over each protocol in turn, until the defence refuses;
    and the owner's logins while strangers are held back 4 s for the account."""
    protocols = list(PROTOCOLS)
    tries: list[Try] = []
    owner: list[Try] = []
    while not (tries and tries[-1].refused_by_policy):
        tries.append(attempt(stack, context, protocols[len(tries) % 3], ATTACKER, user,
                             f"guess {len(tries)}"))
        assert tries[-1].outcome != "OK"
        if len(tries) == 6:
            owner = [attempt(stack, context, protocol, OWNER, user, PASSWORD)
                     for protocol in protocols]
    return tries, owner


def assert_slowed(checked: list[Try]) -> None:
    """Dovecot answers every failure after about 2 s (its failure queue is flushed on a
    half-second timer, by whole seconds: ± 0.5 s); past the free failures the policy has
    it hold each guess 1, 2, 4, 4, 4, 4 s more before even checking it."""
    free, slowed = checked[:4], checked[4:]
    assert max(found.seconds for found in free) < 3.5
    baseline = min(found.seconds for found in free)
    for found, delay in zip(slowed, (1, 2, 4, 4, 4, 4), strict=True):
        assert delay - 0.8 < found.seconds - baseline < delay + 1.5, (found, delay)


def guess_at_once(stack, context, user: str, first: int) -> tuple[list[Try], float]:
    """The rest of the 100 on 15 connections at once, the right password among them."""
    protocols = list(PROTOCOLS)
    began = time.monotonic()
    with ThreadPoolExecutor(15) as pool:
        rest = list(pool.map(lambda number: attempt(
            stack, context, protocols[number % 3], ATTACKER, user,
            PASSWORD if number == 50 else f"guess {number}"), range(first, TRIES)))
    return rest, time.monotonic() - began


def assert_logged(stack, user: str, refused: int) -> None:
    """One line per decision: 10 guesses checked of 100, each block once."""
    lines = decisions(stack, user)
    # Dovecot reached the policy server every time (it would have refused, unasked).
    assert not [line for line in stack.dovecot.logfile.read_text().splitlines()
                if "Policy server" in line and user in line]
    assert sum("verdict=failure status=- protocol=" in line and f"client={ATTACKER} "
               in line for line in lines) == BLOCK_AT
    assert sum("verdict=refuse status=-1" in line and f"client={ATTACKER} " in line
               for line in lines) == refused
    for scope, key in (("client", ATTACKER), ("account", user)):
        assert sum("verdict=block status=- " in line and f"reason={scope} {key} blocked "
                   f"until" in line for line in lines) == 1, (scope, key)
    assert any("stage=allow verdict=delay status=4 protocol=smtp" in line for line in lines)


def decisions(stack, user: str) -> list[str]:
    return [line for line in stack.auth_policy.logfile.read_text().splitlines()
            if f"login=<{user}>" in line]


def report(tries: list[Try], rest: list[Try], rest_seconds: float, owner: list[Try],
           blocked_after: float) -> None:
    """The figures, for the README and the issue (pytest -s shows them)."""
    free, slowed = tries[:4], tries[4:-1]
    print(f"\nattacker, 1 connection: {len(free) / sum(t.seconds for t in free):.2f} guesses/s"
          f" free, {len(slowed) / sum(t.seconds for t in slowed):.2f} guesses/s slowed, "
          f"blocked after {blocked_after:.1f} s and {len(tries) - 1} guesses; then "
          f"{len(rest)} tries on 15 connections in {rest_seconds:.1f} s "
          f"({len(rest) / rest_seconds:.1f}/s), 0 guesses checked "
          f"({sum(t.refused_by_policy for t in rest)} refused by the policy, "
          f"{sum(not t.refused_by_policy for t in rest)} by Postfix's AUTH rate limit)")
    print("owner's logins during the attack: "
          + ", ".join(f"{t.protocol} {t.seconds:.2f} s" for t in owner))
    seen = {t.protocol: t.outcome for t in reversed(rest) if t.refused_by_policy}
    print("the attacker is told: " + "; ".join(f"{name}: {text}" for name, text in seen.items()))


def test_without_the_policy_server_no_login_is_allowed(postfix, owner, tls_context):
    """Fail closed: with the daemon down, Dovecot refuses even the right password;
    logins work again as soon as it is back."""
    _, user = owner
    postfix.auth_policy.stop()
    try:
        for protocol in PROTOCOLS:
            assert attempt(postfix, tls_context, protocol, OWNER, user,
                           PASSWORD).outcome != "OK", protocol
    finally:
        start(postfix.auth_policy)
    wait_until(lambda: attempt(postfix, tls_context, "imap", OWNER, user,
                               PASSWORD).outcome == "OK", what="a login", timeout=30)
