"""State the servers keep in the database: Dovecot's quota usage, the policy daemon's
rate counters, and the table through which Dovecot reports logins. None of it is
account data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, Text
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


class DovecotLogin(Base):
    """Dovecot's way in for its last_login plugin (key last-login/SERVICE/USER), written
    after every IMAP and POP3 login. Nothing stays here: a trigger (migration 0005) turns
    each row into the mailbox's last_imap_login_at or last_pop3_login_at and drops it.
    Dovecot's dict writes whole seconds since the epoch and upserts on the key."""

    __tablename__ = "dovecot_logins"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    service: Mapped[str] = mapped_column(Text, primary_key=True)
    logged_in_at: Mapped[int] = mapped_column(BigInteger)
