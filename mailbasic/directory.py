"""What the policy checks and the milter's stages look up in the account database.

Settings (which mailbox an address reaches, its state and quota) are cached for a short
time: a change made with the CLI takes effect within policy.cache_seconds. Live figures:
quota usage (Dovecot updates it with every delivery) is read fresh whenever the answer
could depend on it, and otherwise may be up to USAGE_SECONDS old (see the quota check);
rate counters are counted in the database, atomically, so they survive a restart and add
up across several daemons.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable
from contextlib import closing
from dataclasses import dataclass
from typing import Generic, TypeVar

import psycopg2
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from mailbasic.config import Settings, require_database_url
from mailbasic.dbdeadline import DEADLINE_MESSAGE

Value = TypeVar("Value")

USAGE_SECONDS = 2.0


class TtlCache(Generic[Value]):
    def __init__(self, seconds: float, maximum: int = 100_000) -> None:
        self.seconds, self.maximum = seconds, maximum
        self.entries: dict[Hashable, tuple[float, Value]] = {}
        self.lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Value],
            keep: Callable[[Value], bool] = lambda value: True) -> Value:
        """The cached value, or load() (kept for later when keep(value) says so)."""
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = load()
        if not keep(value):
            return value
        with self.lock:
            if len(self.entries) >= self.maximum:
                self.entries.clear()  # crude but bounded; a refill costs one query each
            self.entries[key] = (now + self.seconds, value)
        return value


def retrying(function: Callable[..., Value]) -> Callable[..., Value]:
    """Call once more when the pooled connection turned out dead (the database was
    restarted): SQLAlchemy then discards the whole pool, and the second call connects
    anew, so the first message after a restart is not refused. A call that ran into the
    deadline (a frozen database) is not repeated: that would double the wait."""
    @functools.wraps(function)
    def call(*arguments: object, **keywords: object) -> Value:
        try:
            return function(*arguments, **keywords)
        except DBAPIError as error:
            if not error.connection_invalidated or DEADLINE_MESSAGE in str(error.orig):
                raise
        return function(*arguments, **keywords)
    return call


@dataclass(frozen=True)
class Recipient:
    """A recipient address in a hosted domain, and the mailbox it reaches (if any)."""

    mailbox_id: int | None
    login: str | None
    active: bool
    quota_bytes: int


_RECIPIENT = text("""
SELECT m.id, lower(p.local_part || '@' || pd.name), m.receiving_state = 'active',
       m.quota_bytes
FROM domains d
LEFT JOIN addresses a ON a.domain_id = d.id AND a.local_part = :local_part
LEFT JOIN mailboxes m ON m.id = COALESCE(a.mailbox_id, d.catch_all_mailbox_id)
LEFT JOIN addresses p ON p.mailbox_id = m.id AND p.is_primary
LEFT JOIN domains pd ON pd.id = p.domain_id
WHERE d.name = :domain
""")

_USAGE_SQL = "SELECT bytes FROM quota_usage WHERE username = %s"

_ADDRESSES_OF_LOGIN = text("""
SELECT lower(a.local_part || '@' || d.name)
FROM addresses p
JOIN domains pd ON pd.id = p.domain_id
JOIN addresses a ON a.mailbox_id = p.mailbox_id
JOIN domains d ON d.id = a.domain_id
WHERE p.is_primary AND p.local_part = :local_part AND pd.name = :domain
""")

# Why a login may not send now (None: it may): read fresh at every authenticated
# recipient, since an SMTP session authenticated before a stop stays open.
_SENDING_STOPPED = text("""
SELECT CASE WHEN m.suspended_at IS NOT NULL THEN 'the mailbox is suspended'
            WHEN NOT m.allow_smtp THEN 'SMTP AUTH is switched off for the mailbox'
            WHEN m.submission_suspended_at IS NOT NULL
                 THEN 'sending was stopped after repeated abuse'
       END
FROM mailboxes m
JOIN addresses p ON p.mailbox_id = m.id AND p.is_primary
JOIN domains pd ON pd.id = p.domain_id
WHERE p.local_part = :local_part AND pd.name = :domain
""")

_COUNT = text("""
INSERT INTO rate_counters (login, hour, messages, recipients)
VALUES (:login, date_trunc('hour', now()), :messages, :recipients)
ON CONFLICT (login, hour) DO UPDATE
SET messages = rate_counters.messages + EXCLUDED.messages,
    recipients = rate_counters.recipients + EXCLUDED.recipients
RETURNING messages, recipients
""")


@functools.lru_cache(maxsize=4)
def directory_engine(settings: Settings) -> Engine:
    """The daemon process's one engine and pool (database.pool_size connections, as many
    again at peaks), shared by its stages, checks and transaction log; cached by settings.
    Every lookup is one statement: autocommit spares a BEGIN and a ROLLBACK round trip
    each. No pre-ping either: a dead pooled connection fails one call, which is made once
    more on a fresh one (`retrying`)."""
    return create_engine(
        require_database_url(settings), pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size, isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3, "options": "-c statement_timeout=3000"})


def split(address: str) -> tuple[str, str]:
    local_part, _, domain = address.rpartition("@")
    return local_part, domain


class Directory:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.service_domain = settings.service_domain
        # postmaster@ and abuse@ of every hosted domain reach the role mailbox (RFC 2142),
        # as Postfix's role-addresses table routes them.
        self.role_mailbox = settings.role_mailbox
        self.role_local_parts = frozenset(settings.role_local_parts)
        self.recipients: TtlCache[Recipient | None] = TtlCache(settings.policy_cache_seconds)
        self.logins: TtlCache[frozenset[str]] = TtlCache(settings.policy_cache_seconds)
        self.usage: TtlCache[int] = TtlCache(USAGE_SECONDS)

    def recipient(self, address: str) -> Recipient | None:
        """None when the domain is not hosted here. A bare local part ("postmaster", which
        RFC 5321 makes every server accept) is read in the service domain."""
        if "@" not in address:
            address = f"{address}@{self.service_domain}"
        return self.recipients.get(address, lambda: self._load_recipient(address))

    def addresses_of(self, login: str) -> frozenset[str]:
        if "@" not in login:
            login = f"{login}@{self.service_domain}"
        return self.logins.get(login, lambda: self._load_addresses(login))

    def used_bytes(self, login: str, *, fresh: bool = True) -> int:
        """What Dovecot counts as stored in the mailbox: now, or with fresh=False as read
        at most USAGE_SECONDS ago."""
        if not fresh:
            return self.usage.get(login, lambda: self._read_usage(login))
        return self._read_usage(login)

    @retrying
    def _read_usage(self, login: str) -> int:
        """Often, so it skips SQLAlchemy's statement machinery: a pooled DBAPI
        connection, one cursor. Its failures are reported as SQLAlchemy's would be, so
        the daemons' boundaries name them ("database unavailable")."""
        connection = self.engine.raw_connection()
        try:
            with closing(connection.cursor()) as cursor:
                cursor.execute(_USAGE_SQL, (login,))
                row = cursor.fetchone()
        except psycopg2.Error as error:
            dead = connection.dbapi_connection is None or bool(
                getattr(connection.dbapi_connection, "closed", False)) or isinstance(
                error, (psycopg2.OperationalError, psycopg2.InterfaceError))
            if dead:
                connection.invalidate()
            raise OperationalError(_USAGE_SQL, (login,), error,
                                   connection_invalidated=dead) from None
        finally:
            connection.close()  # back to the pool
        return row[0] if row else 0

    @retrying
    def sending_stopped(self, login: str) -> str | None:
        """Why the login may not send now, or None."""
        if "@" not in login:
            login = f"{login}@{self.service_domain}"
        local_part, domain = split(login)
        with self.engine.connect() as connection:
            return connection.execute(_SENDING_STOPPED, {"local_part": local_part,
                                                         "domain": domain}).scalar()

    @retrying
    def count(self, login: str, messages: int, recipients: int) -> tuple[int, int]:
        """Add to this hour's counters of `login`; return the new totals."""
        with self.engine.connect() as connection:  # autocommit: the upsert is atomic
            row = connection.execute(_COUNT, {"login": login, "messages": messages,
                                              "recipients": recipients}).one()
        return row[0], row[1]

    def _load_recipient(self, address: str) -> Recipient | None:
        local_part, domain = split(address)
        # As Postfix does (recipient_delimiter = +): login+detail reaches login.
        local_part = local_part.split("+", 1)[0]
        found = self._query_recipient(local_part, domain)
        if found is not None and self.role_mailbox and local_part in self.role_local_parts:
            return self._query_recipient(*split(self.role_mailbox))
        return found

    @retrying
    def _query_recipient(self, local_part: str, domain: str) -> Recipient | None:
        with self.engine.connect() as connection:
            row = connection.execute(_RECIPIENT, {"local_part": local_part,
                                                  "domain": domain}).first()
        if row is None:
            return None
        return Recipient(mailbox_id=row[0], login=row[1], active=bool(row[2]),
                         quota_bytes=row[3] or 0)

    @retrying
    def _load_addresses(self, login: str) -> frozenset[str]:
        local_part, domain = split(login)
        with self.engine.connect() as connection:
            rows = connection.execute(_ADDRESSES_OF_LOGIN, {"local_part": local_part,
                                                            "domain": domain})
            return frozenset(row[0] for row in rows)


@functools.lru_cache(maxsize=4)
def shared_directory(settings: Settings) -> Directory:
    """The process's one Directory: stages that look up the same addresses (sender, spam,
    the policy checks) share its caches as they share the engine. TtlCache is thread-safe."""
    return Directory(directory_engine(settings), settings)
