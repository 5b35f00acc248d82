"""SMS notifications: a mailbox's phone and rules, and the outbox the milter (and the fax
hook) fill and `mailbasic jobs sms` empties through the provider's HTTP gateway."""

from __future__ import annotations

import enum

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base, CreatedAt, Timestamp
from mailbasic.schema.rules import SENDER_PATTERN

PHONE_PATTERN = r"^\+?[0-9]{6,20}$"
SMS_LENGTH = 160


def _enum(values: type[enum.Enum], name: str) -> Enum:
    return Enum(values, name=name, values_callable=lambda members: [m.value for m in members])


class SmsRuleKind(enum.Enum):
    SENDER = "sender"                # an address or @domain, like the sender lists
    SUBJECT = "subject"              # a keyword in the subject, case-insensitive
    FAX = "fax"                      # a fax arrived
    HIGH_PRIORITY = "high-priority"  # X-Priority 1 or 2, Importance: high, Priority: urgent


class OutboxState(enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"          # the gateway refused it, or every attempt failed
    SUPPRESSED = "suppressed"  # over the mailbox's hourly limit


class SmsSettings(Base):
    __tablename__ = "sms_settings"
    __table_args__ = (CheckConstraint(f"phone ~ '{PHONE_PATTERN}'", name="phone_syntax"),)

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(server_default="true")


class SmsRule(Base):
    __tablename__ = "sms_rules"
    __table_args__ = (
        CheckConstraint("(kind IN ('fax', 'high-priority')) = (value IS NULL)",
                        name="value_when_needed"),
        CheckConstraint("value IS NULL OR length(value) BETWEEN 1 AND 200",
                        name="value_length"),
        CheckConstraint(f"kind <> 'sender' OR value ~ '{SENDER_PATTERN}'",
                        name="sender_syntax"),
        UniqueConstraint("mailbox_id", "kind", "value", postgresql_nulls_not_distinct=True,
                         name="uq_sms_rules_mailbox_id_kind_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    kind: Mapped[SmsRuleKind] = mapped_column(_enum(SmsRuleKind, "sms_rule_kind"))
    value: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]


class SmsOutbox(Base):
    __tablename__ = "sms_outbox"
    __table_args__ = (
        CheckConstraint(f"char_length(text) BETWEEN 1 AND {SMS_LENGTH}", name="text_length"),
        Index("ix_sms_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState, "sms_state"),
                                               server_default=OutboxState.PENDING.value)
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    queued_at: Mapped[CreatedAt]
    next_attempt_at: Mapped[CreatedAt]
    sent_at: Mapped[Timestamp | None]
    last_error: Mapped[str | None] = mapped_column(Text)
