"""The delivery record: what Postfix did with each message after the milter, and every
SMTP session, read from Postfix's own log by `mailbasic delivery-log` (delivery/).

Rows are only ever added (sessions are also updated until they end), in the same
transaction as the reader's position in the log: a line is stored exactly once.
Addresses are stored lower case, as in the transaction log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base

DELIVERY_STATUSES = ("sent", "deferred", "bounced", "expired", "undeliverable", "deliverable")
LINK_KINDS = ("non-delivery notification", "delay notification", "delivery notification",
              "success notification", "vacation reply", "filter notification")
Timestamp = DateTime(timezone=True)


class LogPosition(Base):
    """Where the reader is in a log file: just after the last line it stored."""

    __tablename__ = "log_positions"
    __table_args__ = (CheckConstraint('"offset" >= 0', name="offset"),)

    source: Mapped[str] = mapped_column(Text, primary_key=True)   # the log file's path
    inode: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(Text)  # tells a reused inode from the file
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class DeliveryAttempt(Base):
    """One recipient's delivery attempt: Postfix's `to=<...>, relay=..., status=...`."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (
        Index("ix_delivery_attempts_queue_id", "queue_id"),
        Index("ix_delivery_attempts_recipient", "recipient"),
        Index("ix_delivery_attempts_attempted_at", "attempted_at"),
        CheckConstraint("status IN (" + ", ".join(f"'{status}'"
                                                 for status in DELIVERY_STATUSES) + ")",
                        name="status"),
        CheckConstraint(r"dsn ~ '^[245]\.[0-9]{1,3}\.[0-9]{1,3}$'", name="dsn"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    queue_id: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    orig_recipient: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(Timestamp)
    service: Mapped[str] = mapped_column(Text)          # postfix/smtp, postfix/lmtp, ...
    relay: Mapped[str] = mapped_column(Text)            # host[address]:port, or "none"
    delay: Mapped[float] = mapped_column(Float)
    dsn: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)            # the remote server's own words


class QueueLink(Base):
    """A message that another one caused: a bounce, a vacation reply, a notification."""

    __tablename__ = "queue_links"
    __table_args__ = (
        Index("ix_queue_links_queue_id", "queue_id"),
        Index("ix_queue_links_caused_queue_id", "caused_queue_id"),
        CheckConstraint("kind IN (" + ", ".join(f"'{kind}'" for kind in LINK_KINDS) + ")",
                        name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    queue_id: Mapped[str] = mapped_column(Text)
    caused_queue_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    linked_at: Mapped[datetime] = mapped_column(Timestamp)


class SmtpSession(Base):
    """One connection to our smtpd (port 25 or submission), from connect to its end."""

    __tablename__ = "smtp_sessions"
    __table_args__ = (
        # Not unique: one smtpd process serves one session after another, and the log's
        # time stamps have whole seconds.
        Index("ix_smtp_sessions_connected_at", "connected_at"),
        Index("ix_smtp_sessions_client_address", "client_address"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service: Mapped[str] = mapped_column(Text)        # postfix/smtpd, postfix/submission/smtpd
    pid: Mapped[int] = mapped_column(Integer)
    connected_at: Mapped[datetime] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)
    client_name: Mapped[str] = mapped_column(Text)
    client_address: Mapped[str] = mapped_column(Text)
    client_port: Mapped[int | None] = mapped_column(Integer)
    tls: Mapped[str | None] = mapped_column(Text)     # protocol and cipher
    auth_user: Mapped[str | None] = mapped_column(Text)  # a successful login
    # How it ended: "disconnect", "lost connection after AUTH", "timeout after DATA", ...
    end: Mapped[str | None] = mapped_column(Text)
    commands: Mapped[str | None] = mapped_column(Text)  # "ehlo=1 auth=0/1 quit=1 commands=2/3"
    refusals: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    queue_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")


class SmtpAuthAttempt(Base):
    """A failed SMTP AUTH (Postfix logs successes only with the queue id: auth_user)."""

    __tablename__ = "smtp_auth_attempts"
    __table_args__ = (
        Index("ix_smtp_auth_attempts_attempted_at", "attempted_at"),
        Index("ix_smtp_auth_attempts_client_address", "client_address"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_sessions.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(Timestamp)
    client_address: Mapped[str] = mapped_column(Text)
    mechanism: Mapped[str] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(Text)   # as tried; never the password
    succeeded: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)


class MilterConnection(Base):
    """What only the milter sees of a connection: the HELO name (Postfix logs it only
    with a refusal). Joined to the session by client address and port."""

    __tablename__ = "milter_connections"
    __table_args__ = (
        Index("ix_milter_connections_client", "client_address", "client_port"),
        Index("ix_milter_connections_connected_at", "connected_at"),
        CheckConstraint("transactions >= 0", name="transactions"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    connected_at: Mapped[datetime] = mapped_column(Timestamp)
    closed_at: Mapped[datetime] = mapped_column(Timestamp)
    client_address: Mapped[str] = mapped_column(Text)
    client_port: Mapped[int | None] = mapped_column(Integer)
    client_name: Mapped[str] = mapped_column(Text)
    helo: Mapped[str] = mapped_column(Text)
    tls: Mapped[str | None] = mapped_column(Text)
    transactions: Mapped[int] = mapped_column(Integer)
