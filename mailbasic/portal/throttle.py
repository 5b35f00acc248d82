"""Growing delays for failed portal logins, per account and per client address.

Never a lock: a delay only says how long the next try must wait, and it is capped, so
the real customer gets in with the right password at most ACCOUNT_CAP seconds after the
last wrong one, whatever an attacker keeps doing. The client address's cap is higher: a
guesser spreading over many accounts from one address slows down alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from mailbasic.schema import LoginFailures

FREE_FAILURES = 3           # wrong passwords without any delay (typos)
ACCOUNT_CAP = 30.0          # seconds
CLIENT_CAP = 300.0
FORGET_AFTER = 24 * 3600.0  # a day without failures starts afresh


def _delay(failures: int, cap: float) -> float:
    """1 s after the 4th failure, doubling with each further one, up to the cap."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(cap, 2.0 ** (failures - FREE_FAILURES - 1))


_LIMITS = {"account": ACCOUNT_CAP, "client": CLIENT_CAP}


def wait_seconds(session: Session, account: str, client: str,
                 now: datetime | None = None) -> float:
    """How long this account and client must still wait before the next try (0: try)."""
    now = now or datetime.now(UTC)
    waits = [0.0]
    for scope, key in (("account", account.lower()), ("client", client)):
        row = session.get(LoginFailures, (scope, key))
        if row is None:
            continue
        since = (now - row.last_failure).total_seconds()
        if since > FORGET_AFTER:
            continue
        waits.append(_delay(row.failures, _LIMITS[scope]) - since)
    return max(waits)


_COUNT = text("""
INSERT INTO login_failures (scope, key, failures, last_failure)
VALUES (:scope, :key, 1, :now)
ON CONFLICT (scope, key) DO UPDATE SET
    failures = CASE WHEN login_failures.last_failure < :now - interval '1 day' THEN 1
                    ELSE login_failures.failures + 1 END,
    last_failure = :now
""")


def failed(session: Session, account: str, client: str, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    for scope, key in (("account", account.lower()), ("client", client)):
        session.execute(_COUNT, {"scope": scope, "key": key, "now": now})


def succeeded(session: Session, account: str, client: str) -> None:
    """The right password: this account's and this address's counts start afresh."""
    session.execute(delete(LoginFailures).where(
        ((LoginFailures.scope == "account") & (LoginFailures.key == account.lower()))
        | ((LoginFailures.scope == "client") & (LoginFailures.key == client))))


def failures_of(session: Session, scope: str, key: str) -> int:
    return session.scalar(select(LoginFailures.failures).where(
        LoginFailures.scope == scope, LoginFailures.key == key)) or 0
