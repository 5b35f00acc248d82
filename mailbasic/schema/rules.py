"""Per-mailbox rules: spam settings, sender lists, filters, forwarding, vacation.

The milter reads them at SMTP time (through mailbasic.rules.store); the admin CLI, and
later the portal, change them through mailbasic.rules.service. Filters are kept as the
canonical Sieve text that mailbasic.rules.sieve renders: one format for storage, import
and export, parsed once per cache period by the milter.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base, CreatedAt

# An address, or "@domain" for every address of a domain.
SENDER_PATTERN = r"^([^@\s]+@|@)[^@\s]+\.[^@\s]+$"
ADDRESS_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_FILTER_SCRIPT = 65536
MAX_FOLDER_NAME = 200


def _enum(values: type[enum.Enum], name: str) -> Enum:
    return Enum(values, name=name, values_callable=lambda members: [m.value for m in members])


class SpamAction(enum.Enum):
    TAG = "tag"          # headers only, the message goes where the filters say
    FOLDER = "folder"    # into the folder "Spam"
    DELETE = "delete"    # not delivered at all


class SenderList(enum.Enum):
    WHITELIST = "whitelist"
    BLACKLIST = "blacklist"


class MailboxRules(Base):
    """A mailbox without a row here has the defaults: spam filter on, 5.0, tag only."""

    __tablename__ = "mailbox_rules"
    __table_args__ = (
        CheckConstraint("spam_threshold BETWEEN -100 AND 100", name="threshold_range"),
        CheckConstraint(f"length(filters) <= {MAX_FILTER_SCRIPT}", name="filters_size"),
    )

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    spam_filter_enabled: Mapped[bool] = mapped_column(server_default="true")
    spam_threshold: Mapped[Decimal] = mapped_column(Numeric(4, 1), server_default="5.0")
    spam_action: Mapped[SpamAction] = mapped_column(
        _enum(SpamAction, "spam_action"), server_default=SpamAction.TAG.value)
    filters: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


class SenderListEntry(Base):
    __tablename__ = "sender_list_entries"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "sender"),
        CheckConstraint(f"sender ~ '{SENDER_PATTERN}'", name="sender_syntax"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    list: Mapped[SenderList] = mapped_column(_enum(SenderList, "sender_list"))
    sender: Mapped[str] = mapped_column(CITEXT)
    created_at: Mapped[CreatedAt]


class DeliveryFolder(Base):
    """Folders the milter may file a message into for this mailbox. Dovecot reaches them
    through the view dovecot_delivery_scripts (see migration 0004): the milter rewrites
    the recipient to login+TOKEN@domain and the view's Sieve script files TOKEN into the
    folder, whose UTF-8 name cannot travel in an SMTP address itself."""

    __tablename__ = "delivery_folders"
    __table_args__ = (
        CheckConstraint(f"length(name) BETWEEN 1 AND {MAX_FOLDER_NAME}"
                        " AND name !~ '[[:cntrl:]]' AND name !~ '^/|/$|//'",
                        name="name_syntax"),
    )

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)


class Forward(Base):
    """Mail to this address goes to `target` instead (or as well, with keep_copy)."""

    __tablename__ = "forwards"
    __table_args__ = (
        CheckConstraint(f"target ~ '{ADDRESS_PATTERN}'", name="target_syntax"),
    )

    address_id: Mapped[int] = mapped_column(
        ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(CITEXT)
    keep_copy: Mapped[bool] = mapped_column(server_default="false")
    created_at: Mapped[CreatedAt]


class Vacation(Base):
    __tablename__ = "vacations"
    __table_args__ = (
        CheckConstraint("last_day >= first_day", name="dates_in_order"),
        CheckConstraint("interval_days BETWEEN 1 AND 365", name="interval_range"),
        CheckConstraint("subject !~ '[[:cntrl:]]' AND length(subject) <= 200",
                        name="subject_syntax"),
        CheckConstraint("length(body) BETWEEN 1 AND 10000", name="body_size"),
    )

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(Text, server_default="")
    body: Mapped[str] = mapped_column(Text)
    interval_days: Mapped[int] = mapped_column(SmallInteger, server_default="7")


class VacationReply(Base):
    """When a mailbox last answered a sender: at most one reply per interval_days."""

    __tablename__ = "vacation_replies"

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    sender: Mapped[str] = mapped_column(CITEXT, primary_key=True)
    replied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
