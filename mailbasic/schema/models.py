"""The account database: customers, domains, mailboxes, addresses.

The account rules live here as constraints wherever PostgreSQL can hold them, so that no
client (CLI, portal, a hand-written UPDATE) can break them:

- at most MAX_MAILBOXES per customer and MAX_ADDRESSES per mailbox: each row takes a
  numbered slot, the slot number is range-checked and unique per owner;
- the primary address takes slot 1; a deferred constraint trigger (see the first
  migration) makes sure every mailbox has one at commit;
- local parts follow LOCAL_PART_PATTERN and are unique per domain ignoring case (CITEXT).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    MetaData,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

MAX_MAILBOXES = 2
MAX_ADDRESSES = 6
# First a letter, then letters, digits, '-' and '.', 5 to 30 characters in all.
LOCAL_PART_PATTERN = "^[A-Za-z][A-Za-z0-9.-]{4,29}$"
DOMAIN_PATTERN = "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = Annotated[datetime, mapped_column(DateTime(timezone=True))]
CreatedAt = Annotated[datetime, mapped_column(DateTime(timezone=True),
                                              server_default=func.now())]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReceivingState(enum.Enum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(f"name ~ '{LOCAL_PART_PATTERN}'", name="name_syntax"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(CITEXT, unique=True)
    created_at: Mapped[CreatedAt]

    mailboxes: Mapped[list[Mailbox]] = relationship(
        back_populates="customer", order_by="Mailbox.slot", passive_deletes=True)


class Domain(Base):
    __tablename__ = "domains"
    __table_args__ = (
        CheckConstraint(f"name::text ~ '{DOMAIN_PATTERN}'", name="name_syntax"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(CITEXT, unique=True)
    catch_all_mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL", use_alter=True), index=True)
    created_at: Mapped[CreatedAt]

    catch_all_mailbox: Mapped[Mailbox | None] = relationship(
        foreign_keys=[catch_all_mailbox_id])


class Mailbox(Base):
    __tablename__ = "mailboxes"
    __table_args__ = (
        UniqueConstraint("customer_id", "slot"),
        CheckConstraint(f"slot BETWEEN 1 AND {MAX_MAILBOXES}", name="slot_range"),
        CheckConstraint("quota_bytes > 0", name="quota_positive"),
        CheckConstraint("password_hash ~ '^[{][A-Z0-9-]+[}].+'", name="password_scheme"),
        CheckConstraint(
            "(receiving_state = 'active' AND deactivated_at IS NULL"
            " AND deactivated_reason IS NULL)"
            " OR (receiving_state = 'deactivated' AND deactivated_at IS NOT NULL)",
            name="deactivation_recorded"),
        CheckConstraint("(suspended_at IS NULL) = (suspended_reason IS NULL)",
                        name="suspension_recorded"),
        CheckConstraint("(submission_suspended_at IS NULL)"
                        " = (submission_suspended_reason IS NULL)",
                        name="submission_suspension_recorded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    slot: Mapped[int] = mapped_column(SmallInteger)
    # Dovecot's "{SCHEME}hash" form, verified by Dovecot itself.
    password_hash: Mapped[str] = mapped_column(Text)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    receiving_state: Mapped[ReceivingState] = mapped_column(
        Enum(ReceivingState, name="receiving_state",
             values_callable=lambda states: [state.value for state in states]),
        server_default=ReceivingState.ACTIVE.value)
    deactivated_reason: Mapped[str | None] = mapped_column(Text)
    deactivated_at: Mapped[Timestamp | None]
    last_pop3_login_at: Mapped[Timestamp | None]
    last_imap_login_at: Mapped[Timestamp | None]
    # A login to the webmail (SOGo's IMAP login on Dovecot's webmail listener): the
    # groupware's contacts and calendars are deleted after months without one.
    last_webmail_login_at: Mapped[Timestamp | None]
    # The inactivity rules count from the latest of the logins, creation and reactivation;
    # mail_deleted_at records that they deleted all the mail (once per idle period).
    reactivated_at: Mapped[Timestamp | None]
    mail_deleted_at: Mapped[Timestamp | None]
    created_at: Mapped[CreatedAt]
    # Logins, apart from receiving: a suspended mailbox still receives mail, but no login
    # works (IMAP, POP3, SMTP AUTH, webmail, its owner's portal); each protocol can also
    # be denied alone. submission_suspended_* is the automatic stop of SMTP AUTH when a
    # login sends spam or keeps tripping the rate limit (a leaked password).
    suspended_at: Mapped[Timestamp | None]
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    allow_imap: Mapped[bool] = mapped_column(Boolean, server_default=true())
    allow_pop3: Mapped[bool] = mapped_column(Boolean, server_default=true())
    allow_smtp: Mapped[bool] = mapped_column(Boolean, server_default=true())
    allow_webmail: Mapped[bool] = mapped_column(Boolean, server_default=true())
    submission_suspended_at: Mapped[Timestamp | None]
    submission_suspended_reason: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship(back_populates="mailboxes")
    addresses: Mapped[list[Address]] = relationship(
        back_populates="mailbox", order_by="Address.slot", passive_deletes=True)

    @property
    def primary_address(self) -> Address:
        return next(address for address in self.addresses if address.is_primary)

    @property
    def name(self) -> str:
        """A mailbox is named by its primary address, which is also its login."""
        return self.primary_address.email


class Address(Base):
    __tablename__ = "addresses"
    __table_args__ = (
        UniqueConstraint("domain_id", "local_part"),
        UniqueConstraint("mailbox_id", "slot"),
        CheckConstraint(f"local_part ~ '{LOCAL_PART_PATTERN}'", name="local_part_syntax"),
        CheckConstraint(f"slot BETWEEN 1 AND {MAX_ADDRESSES}", name="slot_range"),
        CheckConstraint("is_primary = (slot = 1)", name="primary_in_first_slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    local_part: Mapped[str] = mapped_column(CITEXT)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="RESTRICT"))
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    slot: Mapped[int] = mapped_column(SmallInteger)
    is_primary: Mapped[bool]
    created_at: Mapped[CreatedAt]

    domain: Mapped[Domain] = relationship()
    mailbox: Mapped[Mailbox] = relationship(back_populates="addresses")

    @property
    def email(self) -> str:
        return f"{self.local_part}@{self.domain.name}"


class ReleasedAddress(Base):
    """An address whose mailbox or alias was removed. For service.address_hold_days nobody
    but its last customer may take it again: mail still sent to it (forwards of others,
    old contacts) must not reach a new owner."""

    __tablename__ = "released_addresses"

    address: Mapped[str] = mapped_column(CITEXT, primary_key=True)
    customer_id: Mapped[int]          # no foreign key: the customer may be gone
    released_at: Mapped[CreatedAt]
