"""State the servers keep in the database: Dovecot's quota usage, the policy daemon's
rate counters. Neither is account data; both are rebuilt or expire on their own."""

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
