"""POP3 collection: external POP3 accounts whose mail a mailbox collects, and the UIDLs
already collected from each (nothing is fetched twice)."""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base, CreatedAt, Timestamp


class Security(enum.Enum):
    TLS = "tls"            # implicit TLS (usually port 995)
    STARTTLS = "starttls"  # STLS on the plain port (110)
    PLAIN = "plain"        # no encryption: the password crosses the network readable


class CollectAccount(Base):
    __tablename__ = "collect_accounts"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "host", "port", "username"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="port_range"),
        CheckConstraint("interval_minutes BETWEEN 5 AND 1440", name="interval_range"),
        CheckConstraint("host ~ '^[A-Za-z0-9.-]{1,253}$'", name="host_syntax"),
        CheckConstraint("length(username) BETWEEN 1 AND 320", name="username_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(Text)
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[Security] = mapped_column(
        Enum(Security, name="pop3_security",
             values_callable=lambda members: [member.value for member in members]))
    username: Mapped[str] = mapped_column(Text)
    # Fernet token (AES-128-CBC + HMAC-SHA256) under collect.key of the config.
    password_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    leave_on_server: Mapped[bool] = mapped_column(server_default="true")
    interval_minutes: Mapped[int] = mapped_column(SmallInteger, server_default="15")
    last_run_at: Mapped[Timestamp | None]
    last_success_at: Mapped[Timestamp | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_fetched: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[CreatedAt]


class CollectedMessage(Base):
    """A UIDL already delivered into the mailbox; removed once the server no longer
    lists it."""

    __tablename__ = "collected_messages"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("collect_accounts.id", ondelete="CASCADE"), primary_key=True)
    uidl: Mapped[str] = mapped_column(Text, primary_key=True)
    collected_at: Mapped[CreatedAt]


class OversizedMessage(Base):
    """A message larger than the size limit, found only while it was read (LIST said
    less): skipped from then on and left on the server; removed once the server no
    longer lists it."""

    __tablename__ = "oversized_messages"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("collect_accounts.id", ondelete="CASCADE"), primary_key=True)
    uidl: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)  # bytes read when it passed the limit
    noted_at: Mapped[CreatedAt]
