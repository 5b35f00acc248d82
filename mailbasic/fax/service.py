"""Fax numbers of mailboxes, and the delivery of a received fax as e-mail."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbasic import accounts
from mailbasic.config import Settings
from mailbasic.errors import N_, AlreadyExists, InvalidInput, NotFound
from mailbasic.fax.convert import ConvertedFax, convert
from mailbasic.schema import FaxNumber, Mailbox
from mailbasic.schema.fax import FAX_NUMBER_PATTERN, FaxFormat


def normalize_number(number: str) -> str:
    """"+49 30 123-456" -> "4930123456": the gateway's digits, however they were typed."""
    digits = re.sub(r"[\s()+./-]", "", number)
    if not re.match(FAX_NUMBER_PATTERN, digits):
        raise InvalidInput(N_("not a fax number: {number!r} (3 to 20 digits)"), number=number)
    return digits


def set_number(session: Session, mailbox: str, number: str, fax_format: FaxFormat) -> FaxNumber:
    owner = accounts.get_mailbox(session, mailbox)
    number = normalize_number(number)
    existing = session.get(FaxNumber, number, with_for_update=True)
    if existing is not None and existing.mailbox_id != owner.id:
        raise AlreadyExists(N_("fax number {number} belongs to another mailbox"), number=number)
    entry = existing or FaxNumber(number=number, mailbox_id=owner.id)
    entry.format = fax_format
    session.add(entry)
    return entry


def remove_number(session: Session, number: str) -> None:
    entry = session.get(FaxNumber, normalize_number(number))
    if entry is None:
        raise NotFound(N_("no mailbox receives faxes for {number}"), number=number)
    session.delete(entry)


def list_numbers(session: Session) -> list[dict]:
    rows = session.execute(select(FaxNumber, Mailbox).join(
        Mailbox, Mailbox.id == FaxNumber.mailbox_id).order_by(FaxNumber.number))
    return [{"number": entry.number, "mailbox": mailbox.name, "format": entry.format.value}
            for entry, mailbox in rows]


def recipient_of(session: Session, number: str) -> tuple[str, FaxFormat]:
    entry = session.get(FaxNumber, normalize_number(number))
    if entry is None:
        raise NotFound(N_("no mailbox receives faxes for {number}"), number=number)
    return session.get_one(Mailbox, entry.mailbox_id).name, entry.format


def caller_number(number: str | None) -> str | None:
    """The calling number as the gateway reports it; it goes into the Subject."""
    if number is None or number.strip() == "":
        return None
    if not re.match(r"^[0-9+ ()/.-]{1,40}$", number):
        raise InvalidInput(f"not a calling number: {number!r}")
    return number.strip()


def fax_message(settings: Settings, recipient: str, sender_number: str | None,
                fax: ConvertedFax) -> EmailMessage:
    caller = caller_number(sender_number) or "an unknown number"
    pages = f"{fax.pages} page" + ("" if fax.pages == 1 else "s")
    message = EmailMessage()
    message["From"] = f"Fax <fax@{settings.service_domain}>"
    message["To"] = recipient
    message["Subject"] = f"Fax from {caller}, {pages}"
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.service_domain)
    message.set_content(f"A fax from {caller} arrived: {pages}, attached as "
                        f"{fax.filename_extension.upper()}.\n")
    maintype, subtype = fax.media_type.split("/")
    message.add_attachment(fax.content, maintype=maintype, subtype=subtype,
                           filename=f"fax.{fax.filename_extension}")
    return message


def deliver(session: Session, settings: Settings, number: str, sender_number: str | None,
            path: Path) -> tuple[str, EmailMessage]:
    """The message for the mailbox behind `number`; the file is only read."""
    recipient, fax_format = recipient_of(session, number)
    caller_number(sender_number)  # refused before the work of converting
    return recipient, fax_message(settings, recipient, sender_number,
                                  convert(path, fax_format))
