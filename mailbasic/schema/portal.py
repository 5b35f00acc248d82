"""The customer's side: portal credentials (password, TOTP, recovery codes, invitations),
login throttling, support access, API tokens, and the audit log of every change.

Secrets are stored only as hashes: the portal password with bcrypt (a person chose it);
invitation, support and API tokens and recovery codes with SHA-256, since they are
128-bit random values that no dictionary holds. The TOTP seed must be read back to check a
code, so it is stored as it is, readable only by the roles that need it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    false,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base, CreatedAt

Timestamp = DateTime(timezone=True)
SHA256_HEX = "^[0-9a-f]{64}$"


class CustomerCredentials(Base):
    __tablename__ = "customer_credentials"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    totp_secret: Mapped[str | None] = mapped_column(Text)   # base32; None: no second factor
    # The time step of the last code accepted: a code (or an older one) never works twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Raised by a password change and a logout everywhere: older session cookies die.
    session_epoch: Mapped[int] = mapped_column(Integer, server_default="0")
    # With a second factor on, the customer may demand app passwords for IMAP, POP3 and
    # SMTP: the mailbox passwords then work only in webmail and the portal.
    app_passwords_only: Mapped[bool] = mapped_column(Boolean, server_default=false())
    updated_at: Mapped[CreatedAt]


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    __table_args__ = (CheckConstraint(f"code_hash ~ '{SHA256_HEX}'", name="code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(Text, unique=True)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class PortalToken(Base):
    """A link that logs in once (an invitation to set the password) or opens a
    customer's view read-only for support staff, until it expires."""

    __tablename__ = "portal_tokens"
    __table_args__ = (
        CheckConstraint(f"token_hash ~ '{SHA256_HEX}'", name="token_hash"),
        CheckConstraint("kind IN ('invite', 'support')", name="kind"),
    )

    token_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class LoginFailures(Base):
    """Failed logins counted per account, per client address and per network (an IPv6
    /64), for growing delays and blocks: Dovecot's authentication policy (IMAP, POP3,
    SMTP AUTH) and the portal count into the same rows."""

    __tablename__ = "login_failures"
    __table_args__ = (
        CheckConstraint("scope IN ('account', 'client', 'network')", name="scope"),
        CheckConstraint("failures > 0", name="failures"),
    )

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure: Mapped[datetime] = mapped_column(Timestamp)


class AuditEvent(Base):
    """Who changed what, when, from where: the customer, support staff, an admin (CLI)
    or an API token."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_customer_id_at", "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[CreatedAt]
    actor: Mapped[str] = mapped_column(Text)       # "customer alice", "support bob", ...
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"))
    client_address: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)      # "address add", "spam set", ...
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(f"token_hash ~ '{SHA256_HEX}'", name="token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[CreatedAt]
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
