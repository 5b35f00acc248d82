"""Login security: app passwords, the brute-force defence's blocks and known clients,
and the cases of a login that sent spam (a leaked password).

An app password is a 128-bit random value the service generates, so it is stored as its
SHA-256 (no dictionary holds it; a slow hash would only slow every poll). The failure
counters themselves are login_failures (schema/portal.py), shared by Dovecot's
authentication policy and the portal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base, CreatedAt

Timestamp = DateTime(timezone=True)
APP_PASSWORD_PROTOCOLS = ("imap", "pop3", "smtp")


class AppPassword(Base):
    """A password for one device, limited to chosen protocols, shown once at creation."""

    __tablename__ = "app_passwords"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "name"),
        CheckConstraint("secret_sha256 ~ '^[0-9a-f]{64}$'", name="secret_sha256"),
        CheckConstraint("length(name) BETWEEN 1 AND 64", name="name_length"),
        CheckConstraint("cardinality(protocols) > 0 AND protocols <@ ARRAY["
                        + ", ".join(f"'{protocol}'" for protocol in APP_PASSWORD_PROTOCOLS)
                        + "]::text[]", name="protocols"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    secret_sha256: Mapped[str] = mapped_column(Text, unique=True)
    protocols: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[CreatedAt]
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class AuthBlock(Base):
    """A temporary refusal of logins from a client address, a network (IPv6 /64) or to an
    account, until `blocked_until`; `auth unblock` lifts it early."""

    __tablename__ = "auth_blocks"
    __table_args__ = (
        CheckConstraint("scope IN ('client', 'network', 'account')", name="scope"),
        CheckConstraint("blocked_until > blocked_at", name="period"),
        Index("ix_auth_blocks_scope_key", "scope", "key"),
        Index("ix_auth_blocks_blocked_until", "blocked_until"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scope: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    blocked_at: Mapped[datetime] = mapped_column(Timestamp)
    blocked_until: Mapped[datetime] = mapped_column(Timestamp)
    failures: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    lifted_at: Mapped[datetime | None] = mapped_column(Timestamp)
    lifted_by: Mapped[str | None] = mapped_column(Text)


class AuthKnownClient(Base):
    """Where an account last logged in successfully (its client's network): the owner
    logging in from there is not held back by failures against the account."""

    __tablename__ = "auth_known_clients"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    network: Mapped[str] = mapped_column(Text, primary_key=True)
    last_success_at: Mapped[datetime] = mapped_column(Timestamp)


class SendingIncident(Base):
    """An authenticated login that tripped the rate limit or sent mail scored as spam."""

    __tablename__ = "sending_incidents"
    __table_args__ = (
        CheckConstraint("kind IN ('rate_limit', 'spam')", name="kind"),
        Index("ix_sending_incidents_mailbox_id_at", "mailbox_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    queue_id: Mapped[str | None] = mapped_column(Text)
    client_address: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    # Whether this incident stopped the login's submission (the threshold was reached).
    suspended_submission: Mapped[bool] = mapped_column(server_default="false")
