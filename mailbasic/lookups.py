"""`mailbasic lookups`: Postfix's account lookups as socketmap tables, with deadlines.

Postfix 3.7's own pgsql client has no timeout: a frozen database left SMTP sessions
without a reply for minutes, and after a database restart it skipped the "failed" host
for a fixed 60 s. This daemon answers Postfix instead, from the lookup views (as the
mailbasic_postfix role, which may read nothing else): every query has a client-side
deadline (mailbasic.dbdeadline), a database that fails answers TEMP (Postfix: 451 4.3.0
"Temporary lookup failure") within it, and a restarted one is used at the next lookup.
Answers are cached for policy.cache_seconds, as the policy daemon's are.

Tables (socketmap:unix:PATH:NAME), keys as Postfix asks them:
  domain    example.net         -> OK yes            hosted domains
  mailbox   alice@example.net   -> OK yes            primary addresses
  alias     info@example.net    -> OK alice@...      every address to its mailbox, the
            other@example.net   -> OK alice@...      catch-all, and the role addresses
  sender    info@example.net    -> OK alice@...      which login owns an envelope sender

Postfix treats a socketmap table as a pattern table: it asks with the full address only,
never "user@domain" for "user+detail@domain" nor "@domain" for the catch-all, as it does
with its own database tables. So those steps are taken here, in the same order, and an
address found without its detail keeps it in the answer (as Postfix's
propagate_unmatched_extensions would): "alice+news@..." -> "alice+news@...".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, TextClause, text
from sqlalchemy.exc import SQLAlchemyError

from mailbasic import dbdeadline, socketmap
from mailbasic.config import Settings, service_host_names
from mailbasic.directory import TtlCache, directory_engine, retrying

log = logging.getLogger("mailbasic.lookups")

_DOMAIN = text("SELECT 'yes' FROM postfix_domains WHERE name = :domain")
_MAILBOX = text("SELECT 'yes' FROM postfix_addresses"
                " WHERE is_primary AND local_part = :local_part AND domain = :domain")
_ADDRESS = text("SELECT mailbox FROM postfix_addresses"
                " WHERE local_part = :local_part AND domain = :domain")
_CATCH_ALL = text("SELECT mailbox FROM postfix_catch_alls WHERE domain = :domain")

NOT_FOUND = "NOTFOUND "


class LookupTables:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.cache: TtlCache[str | None] = TtlCache(settings.policy_cache_seconds)
        self.role_mailbox = settings.role_mailbox
        self.role_local_parts = frozenset(settings.role_local_parts)
        self.host_names = frozenset(service_host_names(settings))
        self.tables: dict[str, Callable[[str], str | None]] = {
            "domain": self._domain, "mailbox": self._mailbox, "alias": self._alias,
            "sender": self._address}

    def lookup(self, request: str) -> str:
        name, _, key = request.partition(" ")
        table = self.tables.get(name)
        if table is None:
            return f"PERM no table named {name!r}"
        key = key.strip().lower()
        try:
            # Only what was found is kept: a domain or address just added is known at
            # once; one just removed is still found for up to policy.cache_seconds.
            found = self.cache.get((name, key), lambda: table(key),
                                   keep=lambda value: value is not None)
        except SQLAlchemyError as error:
            log.error("lookups: table=%s key=<%s> verdict=temp reason=database unavailable "
                      "(%s)", name, key, str(error).splitlines()[0])
            return "TEMP database unavailable"
        return NOT_FOUND if found is None else f"OK {found}"

    def _domain(self, domain: str) -> str | None:
        return self._one(_DOMAIN, domain=domain)

    def _mailbox(self, address: str) -> str | None:
        local_part, _, domain = address.rpartition("@")
        return (self._one(_MAILBOX, local_part=local_part, domain=domain)
                or self._one(_MAILBOX, local_part=_without_detail(local_part), domain=domain))

    def _alias(self, key: str) -> str | None:
        local_part, _, domain = key.rpartition("@")
        if not local_part:       # "@domain", should Postfix ever ask for it
            return self._one(_CATCH_ALL, domain=domain)
        if self._is_role_address(_without_detail(local_part), domain):
            return self.role_mailbox
        found = self._one(_ADDRESS, local_part=local_part, domain=domain)
        if found is not None:
            return found
        base = _without_detail(local_part)
        if base != local_part:
            found = self._one(_ADDRESS, local_part=base, domain=domain)
            if found is not None:   # the detail stays: the milter files by it
                mailbox_local, _, mailbox_domain = found.rpartition("@")
                detail = local_part[len(base):]
                return f"{mailbox_local}{detail}@{mailbox_domain}"
        return self._one(_CATCH_ALL, domain=domain)

    def _is_role_address(self, local_part: str, domain: str) -> bool:
        # postmaster@ and abuse@ of every hosted domain, and of the service's own host
        # names (Postfix makes a bare "postmaster" postmaster@$myorigin) (RFC 2142).
        return (bool(self.role_mailbox) and local_part in self.role_local_parts
                and (domain in self.host_names or self._domain(domain) is not None))

    def _address(self, address: str) -> str | None:
        local_part, _, domain = address.rpartition("@")
        return (self._one(_ADDRESS, local_part=local_part, domain=domain)
                or self._one(_ADDRESS, local_part=_without_detail(local_part), domain=domain))

    @retrying
    def _one(self, query: TextClause, **parameters: str) -> str | None:
        with self.engine.connect() as connection:
            found: str | None = connection.execute(query, parameters).scalar()
            return found


def _without_detail(local_part: str) -> str:
    """login+detail -> login (recipient_delimiter = +)."""
    return local_part.split("+", 1)[0]


def run(settings: Settings) -> None:
    dbdeadline.install(settings.database_deadline)
    table = LookupTables(directory_engine(settings), settings)
    log.info("mailbasic lookup tables, database deadline %.0f s",
             settings.database_deadline)
    socketmap.serve(settings.lookup_socket, table)
