"""The scripts a mailbox's ManageSieve clients (webmail, Thunderbird, phones) keep.

The active script is the mailbox's filters (mailbox_rules.filters), so its row holds only
its name: one text per rule, never two that could disagree. Every other row is a draft
with its text as the client wrote it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base

MAX_SCRIPT_NAME = 128
MAX_DRAFT = 65536   # as mailbox_rules.filters


class SieveScript(Base):
    __tablename__ = "sieve_scripts"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "name"),
        CheckConstraint(f"length(name) BETWEEN 1 AND {MAX_SCRIPT_NAME}", name="name_length"),
        CheckConstraint(f"length(draft) <= {MAX_DRAFT}", name="draft_size"),
        CheckConstraint("NOT active OR draft = ''", name="active_has_no_draft"),
        Index("ix_sieve_scripts_one_active", "mailbox_id", unique=True,
              postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"))  # the unique key indexes it
    name: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(server_default="false")
    draft: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now())
