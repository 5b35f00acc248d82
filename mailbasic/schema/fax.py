"""Fax to e-mail: which mailbox receives the faxes sent to which number, in which format."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base, CreatedAt

# Digits only, as the gateway reports the called number (e.g. 4930123456).
FAX_NUMBER_PATTERN = r"^[0-9]{3,20}$"


class FaxFormat(enum.Enum):
    PDF = "pdf"
    TIFF = "tiff"


class FaxNumber(Base):
    __tablename__ = "fax_numbers"
    __table_args__ = (CheckConstraint(f"number ~ '{FAX_NUMBER_PATTERN}'", name="number_syntax"),)

    number: Mapped[str] = mapped_column(Text, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    format: Mapped[FaxFormat] = mapped_column(
        Enum(FaxFormat, name="fax_format",
             values_callable=lambda members: [member.value for member in members]),
        server_default=FaxFormat.PDF.value)
    created_at: Mapped[CreatedAt]
