"""`mailbasic auth blocks` and `auth unblock` over a real PostgreSQL, with blocks begun by
the defence itself (LoginGuard, as the daemon and the portal run it), and the purge of
what no decision reads any more."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from mailbasic import db
from mailbasic.auth_policy import store
from mailbasic.auth_policy.decide import ALLOW, REFUSE, Limits
from mailbasic.auth_policy.guard import Attempt, LoginGuard
from mailbasic.schema import AuditEvent, AuthBlock, AuthKnownClient, LoginFailures

LIMITS = Limits(free_failures=3, max_delay_seconds=4, client_block_failures=5,
                account_block_failures=5, block_minutes=15, forget_hours=24,
                known_client_days=90)


def fail(engine, attempt: Attempt, times: int, now: datetime | None = None) -> None:
    guard = LoginGuard(LIMITS)
    for _ in range(times):
        with db.transaction(engine) as session:
            guard.failed(session, attempt, now)


def verdict(engine, attempt: Attempt) -> int:
    with db.transaction(engine) as session:
        return LoginGuard(LIMITS).check(session, attempt).status


def test_blocks_are_listed_and_lifted(engine, cli):
    attacker = Attempt("alice@example.net", "198.51.100.7", "pop3")
    fail(engine, attacker, 5)
    blocks = json.loads(cli.ok("auth", "blocks", "--json").stdout)
    assert [(block["scope"], block["key"], block["failures"]) for block in blocks] == [
        ("account", "alice@example.net", 5), ("client", "198.51.100.7", 5)]
    assert "the last over pop3 for alice@example.net from 198.51.100.7" in blocks[0]["reason"]
    text = cli.ok("auth", "blocks").stdout
    assert "client   198.51.100.7" in text and "5 failures" in text
    assert verdict(engine, Attempt("bob@example.net", "198.51.100.7", "imap")) == REFUSE
    lifted = cli.ok("auth", "unblock", "198.51.100.7").stdout
    assert lifted.startswith("lifted: client 198.51.100.7 (was blocked until ")
    # Lifted, and its failures forgotten: one more wrong password does not block again.
    fail(engine, Attempt("bob@example.net", "198.51.100.7", "imap"), 1)
    assert verdict(engine, Attempt("bob@example.net", "198.51.100.7", "imap")) == ALLOW
    assert cli.refused(4, "auth", "unblock", "198.51.100.7") == (
        "mailbasic: error: no block in force for 198.51.100.7")
    cli.ok("auth", "unblock", "Alice@Example.NET")
    assert json.loads(cli.ok("auth", "blocks", "--json").stdout) == []
    with db.transaction(engine) as session:
        lifts = session.scalars(select(AuthBlock).where(AuthBlock.lifted_at.is_not(None)))
        assert {block.lifted_by.startswith("admin (CLI, ") for block in lifts} == {True}
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("auth unblock") == 2


def test_an_ipv6_address_lifts_its_network_s_block(engine, cli):
    for number in range(1, 6):
        fail(engine, Attempt(f"user{number}@example.net", f"2001:db8:9:9::{number}", "imap"),
             1)
    assert verdict(engine, Attempt("x@example.net", "2001:db8:9:9::77", "imap")) == REFUSE
    assert "network 2001:db8:9:9::/64" in cli.ok("auth", "unblock", "2001:db8:9:9::3").stdout
    assert verdict(engine, Attempt("x@example.net", "2001:db8:9:9::77", "imap")) == ALLOW


def test_a_block_ends_by_itself_and_the_next_failure_begins_another(engine):
    attacker = Attempt("carol@example.net", "198.51.100.9", "smtp")
    start = datetime.now(UTC) - timedelta(minutes=20)
    fail(engine, attacker, 5, start)
    with db.transaction(engine) as session:
        assert store.blocks_in_force(session, datetime.now(UTC)) == []   # 15 minutes
        assert LoginGuard(LIMITS).check(session, attacker).status == 2   # still slowed
    fail(engine, attacker, 1)
    assert verdict(engine, attacker) == REFUSE


def test_the_purge_forgets_old_failures_known_clients_and_blocks(engine):
    long_ago = datetime.now(UTC) - timedelta(days=100)
    fail(engine, Attempt("dave@example.net", "198.51.100.10", "imap"), 5, long_ago)
    with db.transaction(engine) as session:
        LoginGuard(LIMITS).succeeded(session, Attempt("dave@example.net", "198.51.100.11",
                                                      "imap"), long_ago)
        LoginGuard(LIMITS).succeeded(session, Attempt("dave@example.net", "198.51.100.12",
                                                      "imap"))
        gone = store.purge(session, LIMITS, datetime.now(UTC))
    assert gone == {"failures": 2, "known clients": 1, "blocks": 2}
    with db.transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(LoginFailures)) == 0
        assert session.scalars(select(AuthKnownClient.network)).all() == ["198.51.100.12/32"]
