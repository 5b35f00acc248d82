"""The SMTP transaction log: one row per transaction, one per recipient.

Addresses are stored lowercased, so a plain index serves case-insensitive searches.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailbasic.schema.models import Base, CreatedAt


class SmtpTransaction(Base):
    __tablename__ = "smtp_transactions"
    __table_args__ = (
        Index("ix_smtp_transactions_logged_at", "logged_at"),
        Index("ix_smtp_transactions_queue_id", "queue_id"),
        Index("ix_smtp_transactions_sender", "sender"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    logged_at: Mapped[CreatedAt]
    queue_id: Mapped[str] = mapped_column(Text)
    client_address: Mapped[str] = mapped_column(Text)
    client_name: Mapped[str] = mapped_column(Text)
    helo: Mapped[str] = mapped_column(Text)
    tls: Mapped[str | None] = mapped_column(Text)
    auth_user: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    # stage name -> {"verdict": ..., "reason": ...}: spam score, virus names, ...
    verdicts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reply: Mapped[str] = mapped_column(Text)

    recipients: Mapped[list[SmtpRecipient]] = relationship(
        back_populates="transaction", order_by="SmtpRecipient.id",
        cascade="all, delete-orphan", passive_deletes=True)


class SmtpRecipient(Base):
    __tablename__ = "smtp_recipients"
    __table_args__ = (Index("ix_smtp_recipients_address", "address"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("smtp_transactions.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)

    transaction: Mapped[SmtpTransaction] = relationship(back_populates="recipients")
