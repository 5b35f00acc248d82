"""API tokens: created by `mailbasic api-token create`, each with a set of scopes, shown
once and stored only as a SHA-256 hash (like the portal's links, see
mailbasic/schema/portal.py: a 256-bit random value needs no slow hash, there is no
dictionary to try). Revoked tokens keep their row and their name, so an "api NAME" in the
audit log always means one token."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from mailbasic import audit
from mailbasic.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound
from mailbasic.portal.credentials import digest
from mailbasic.schema import ApiToken

# What a token may do; each endpoint names the one scope it needs. Writing does not
# imply reading: a token gets exactly the scopes it was given.
SCOPES: dict[str, str] = {
    "customers:read": "list and show customers",
    "customers:write": "create and delete customers, set portal passwords",
    "mailboxes:read": "show mailboxes and their addresses",
    "mailboxes:write": "add mailboxes and addresses; quota, password, deactivation",
    "rules:read": "show spam settings, sender lists, filters, forwarding, vacation",
    "rules:write": "change spam settings, sender lists, filters, forwarding, vacation",
    "log:read": "search the SMTP transaction log",
}
_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,62}$")
# last_used_at is written at most this often per token: every request writing the one
# row would queue a client's concurrent requests behind each other's row lock.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    """The token a request came with, as far as the views need it."""

    name: str
    scopes: frozenset[str]


def create(session: Session, name: str, scopes: list[str]) -> str:
    """A new token with these scopes; returns the secret, which is stored only hashed."""
    if not _NAME.match(name):
        raise InvalidInput(f"{name!r}: a token name is 1 to 63 of a-z, 0-9, '.', '_', '-', "
                           "starting with a letter")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scope {', '.join(unknown)}; choose from "
                           f"{', '.join(SCOPES)}")
    if not scopes:
        raise InvalidInput("give the token at least one scope")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise AlreadyExists(f"api token {name} already exists (revoked tokens keep their "
                            "name); choose another name")
    secret = secrets.token_urlsafe(32)   # 256 random bits
    ordered = [scope for scope in SCOPES if scope in scopes]
    session.add(ApiToken(name=name, token_hash=digest(secret), scopes=ordered))
    audit.record(session, audit.ADMIN, None, "api token created", name=name, scopes=ordered)
    return secret


def revoke(session: Session, name: str) -> None:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name).with_for_update())
    if token is None:
        raise NotFound(f"no api token named {name}")
    if token.revoked_at is not None:
        raise NotAllowed(f"api token {name} is revoked already")
    token.revoked_at = datetime.now(UTC)
    audit.record(session, audit.ADMIN, None, "api token revoked", name=name)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def view(token: ApiToken) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None
    return {"name": token.name, "scopes": list(token.scopes),
            "created_at": moment(token.created_at), "last_used_at": moment(token.last_used_at),
            "revoked_at": moment(token.revoked_at)}


def authenticate(connection: Connection, secret: str) -> Caller | None:
    """The live token with this secret, or None; notes its use (see LAST_USED_PRECISION).
    Runs on a connection of its own, committed at once, so a refused request is noted
    too and the request's own transaction never holds the token's row."""
    now = datetime.now(UTC)
    row = connection.execute(select(ApiToken.id, ApiToken.name, ApiToken.scopes).where(
        ApiToken.token_hash == digest(secret), ApiToken.revoked_at.is_(None))).first()
    if row is None:
        return None
    connection.execute(update(ApiToken).where(
        ApiToken.id == row.id, (ApiToken.last_used_at.is_(None))
        | (ApiToken.last_used_at < now - LAST_USED_PRECISION)).values(last_used_at=now))
    return Caller(row.name, frozenset(row.scopes))
