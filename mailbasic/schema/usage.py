"""State the servers keep in the database: Dovecot's quota usage and last logins, the
policy daemon's rate counters. None of it is account data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base


class QuotaUsage(Base):
    """Written by Dovecot's quota dict (dict:...:proxy::sqlquota), keyed by its user name,
    which is the mailbox's primary address in lower case."""

    __tablename__ = "quota_usage"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    messages: Mapped[int] = mapped_column(BigInteger, server_default="0")


class RateCounter(Base):
    """Messages and recipients an authenticated login sent in one clock hour."""

    __tablename__ = "rate_counters"

    login: Mapped[str] = mapped_column(Text, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, server_default="0")
    recipients: Mapped[int] = mapped_column(Integer, server_default="0")


class LastLogin(Base):
    """Written by Dovecot's last_login plugin (key last-login/SERVICE/USER) after every
    IMAP or POP3 login: when the mailbox's mail was last fetched, per protocol. The
    inactivity rules read it. Dovecot's dict writes whole seconds since the epoch."""

    __tablename__ = "last_logins"
    __table_args__ = (CheckConstraint("service IN ('imap', 'pop3')", name="service"),)

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    service: Mapped[str] = mapped_column(Text, primary_key=True)
    logged_in_at: Mapped[int] = mapped_column(BigInteger)
