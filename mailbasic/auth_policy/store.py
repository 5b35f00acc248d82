"""Counters, blocks and known clients in PostgreSQL, in the caller's transaction.

A failure's counters are counted with INSERT ... ON CONFLICT, which locks each counter's
row until the transaction ends: two failures of the same client are counted, and its
block begun, one after the other, so a block is never begun twice. Rows are locked in
Subjects.keys() order, so two transactions cannot deadlock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from mailbasic.auth_policy.decide import ACCOUNT, Block, Count, Limits, Standing, Subjects
from mailbasic.schema import AuthBlock, AuthKnownClient, LoginFailures

# The daemon runs on a plain connection (every login asks twice: the ORM's own work would
# cost more than the queries), the portal and the CLI on their sessions.
Executor = Session | Connection

# Ended blocks are kept this long: who was blocked last week, and why.
BLOCK_HISTORY_DAYS = 30
# A known client's last success is written at most this often: a phone polling every
# 10 s would otherwise write a row each time.
KNOWN_CLIENT_REFRESH = timedelta(hours=1)

# The (scope, key) pairs of one attempt, as two arrays zipped back into rows.
_SUBJECTS = ("(scope, key) IN (SELECT * FROM unnest(CAST(:scopes AS text[]),"
             " CAST(:keys AS text[])))")

# Everything one decision reads, in one round trip.
_STANDING = text(f"""
SELECT 'count' AS kind, scope, key, failures, last_failure AS at FROM login_failures
WHERE {_SUBJECTS} AND last_failure >= :stale
UNION ALL
SELECT 'block', scope, key, failures, blocked_until FROM auth_blocks
WHERE {_SUBJECTS} AND blocked_until > :now AND lifted_at IS NULL
UNION ALL
SELECT 'known', NULL, NULL, NULL, last_success_at FROM auth_known_clients
WHERE username = :account AND network = :known_as AND last_success_at >= :known_since
""")


def standing(executor: Executor, subjects: Subjects, limits: Limits,
             now: datetime) -> Standing:
    if not subjects.keys():
        return Standing()
    rows = executor.execute(_STANDING, {
        **_pairs(subjects.keys()), "now": now, "account": subjects.account,
        "known_as": subjects.known_as,
        "stale": now - timedelta(hours=limits.forget_hours),
        "known_since": now - timedelta(days=limits.known_client_days)}).all()
    return Standing(
        tuple(Count(row.scope, row.key, row.failures, row.at) for row in rows
              if row.kind == "count"),
        tuple(Block(row.scope, row.key, row.at, row.failures) for row in rows
              if row.kind == "block"),
        any(row.kind == "known" for row in rows))


def _pairs(keys: list[tuple[str, str]]) -> dict[str, Any]:
    return {"scopes": [scope for scope, _ in keys], "keys": [key for _, key in keys]}


_ACTIVE_BLOCKS = text(f"""
SELECT scope, key, blocked_until, failures FROM auth_blocks
WHERE {_SUBJECTS} AND blocked_until > :now AND lifted_at IS NULL
""")


def active_blocks(executor: Executor, keys: list[tuple[str, str]],
                  now: datetime) -> list[Block]:
    rows = executor.execute(_ACTIVE_BLOCKS, {**_pairs(keys), "now": now})
    return [Block(row.scope, row.key, row.blocked_until, row.failures) for row in rows]


def _active(now: datetime) -> ColumnElement[bool]:
    return and_(AuthBlock.blocked_until > now, AuthBlock.lifted_at.is_(None))


_COUNT = text("""
INSERT INTO login_failures (scope, key, failures, last_failure)
VALUES (:scope, :key, 1, :now)
ON CONFLICT (scope, key) DO UPDATE SET
    failures = CASE WHEN login_failures.last_failure < :stale THEN 1
                    ELSE login_failures.failures + 1 END,
    last_failure = :now
RETURNING failures
""")


def count_failure(executor: Executor, subjects: Subjects, limits: Limits,
                  now: datetime) -> list[Count]:
    """One more failure for each subject (a day without one starts afresh); the counts."""
    stale = now - timedelta(hours=limits.forget_hours)
    return [Count(scope, key, executor.execute(_COUNT, {
        "scope": scope, "key": key, "now": now, "stale": stale}).scalar_one(), now)
        for scope, key in subjects.keys()]


_BEGIN_BLOCK = text("""
INSERT INTO auth_blocks (scope, key, blocked_at, blocked_until, failures, reason)
VALUES (:scope, :key, :now, :until, :failures, :reason)
""")


def begin_blocks(executor: Executor, blocks: list[Block], reason: str, now: datetime) -> None:
    for block in blocks:
        executor.execute(_BEGIN_BLOCK, {"scope": block.scope, "key": block.key, "now": now,
                                        "until": block.until, "failures": block.failures,
                                        "reason": reason})


_FORGET = text(f"DELETE FROM login_failures WHERE {_SUBJECTS}")


def forget_client(executor: Executor, subjects: Subjects) -> None:
    """The right password: the client's (and its network's) failures start afresh. The
    account's stay: a distributed attack on it must not be wiped by the owner's polls."""
    keys = [(scope, key) for scope, key in subjects.keys() if scope != ACCOUNT]
    if keys:
        executor.execute(_FORGET, _pairs(keys))


_REMEMBER = text("""
INSERT INTO auth_known_clients (username, network, last_success_at)
VALUES (:username, :network, :now)
ON CONFLICT (username, network) DO UPDATE SET last_success_at = :now
WHERE auth_known_clients.last_success_at < :refresh
""")


def remember_client(executor: Executor, subjects: Subjects, now: datetime) -> None:
    if subjects.account is None or subjects.known_as is None:
        return
    executor.execute(_REMEMBER, {"username": subjects.account, "network": subjects.known_as,
                                 "now": now, "refresh": now - KNOWN_CLIENT_REFRESH})


def blocks_in_force(session: Session, now: datetime) -> list[AuthBlock]:
    return list(session.scalars(select(AuthBlock).where(_active(now))
                                .order_by(AuthBlock.blocked_until, AuthBlock.id)))


def lift(session: Session, keys: list[tuple[str, str]], by: str,
         now: datetime) -> list[AuthBlock]:
    """End the blocks of these subjects now and forget their failures (else the next
    wrong password would block them again at once); the blocks lifted."""
    matching = tuple_(AuthBlock.scope, AuthBlock.key).in_(keys)
    lifted = list(session.scalars(update(AuthBlock).where(matching, _active(now))
                                  .values(lifted_at=now, lifted_by=by)
                                  .returning(AuthBlock)))
    session.execute(delete(LoginFailures).where(
        tuple_(LoginFailures.scope, LoginFailures.key).in_(keys)))
    return lifted


def purge(session: Session, limits: Limits, now: datetime) -> dict[str, int]:
    """Forget what no decision reads any more; how many rows of each went."""
    done = {
        "failures": delete(LoginFailures).where(
            LoginFailures.last_failure < now - timedelta(hours=limits.forget_hours)),
        "known clients": delete(AuthKnownClient).where(
            AuthKnownClient.last_success_at < now - timedelta(days=limits.known_client_days)),
        "blocks": delete(AuthBlock).where(or_(
            AuthBlock.blocked_until < now - timedelta(days=BLOCK_HISTORY_DAYS),
            AuthBlock.lifted_at < now - timedelta(days=BLOCK_HISTORY_DAYS))),
    }
    return {name: session.execute(statement).rowcount  # type: ignore[attr-defined]
            for name, statement in done.items()}
