"""Notifications of the filters' `notify` action (RFC 5435 with the mailto: method,
RFC 5436): whether one goes out, and the short mail itself.

Built like a vacation reply (vacation.py) and sent the same way, with the null envelope
sender. Like Pigeonhole's, it never answers an automatic message (a notification about a
notification is how loops start) and says nothing of the original but its sender and
subject.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailbasic import caused
from mailbasic.rules import model
from mailbasic.rules.vacation import Incoming, one_line

# RFC 5435's :importance as the header fields mail programs show (Pigeonhole's choice).
_IMPORTANCE = {"1": ("1 (Highest)", "High"), "3": ("5 (Lowest)", "Low")}


def reason_not_to_notify(incoming: Incoming) -> str | None:
    """None: notify. Otherwise why not, for the log."""
    if incoming.first("auto-submitted").split(";")[0].strip().lower() not in ("", "no"):
        return "auto-submitted"
    return None


def compose_notification(notify: model.Notify, incoming: Incoming, owner: str, now: datetime,
                         message_id_domain: str, cause: str = "") -> bytes:
    """owner: the mailbox's address, the notification's From; cause: the queue id of
    the message it is about (caused.py)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(addr_spec=owner)
    message["To"] = Address(addr_spec=notify.address)
    original_subject = one_line(incoming.first("subject")) or "(no subject)"
    message["Subject"] = one_line(notify.message) or f"Notification: {original_subject}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = caused.message_id("notify", cause, message_id_domain)
    message["Auto-Submitted"] = f'auto-notified; owner-email="{owner}"'  # RFC 5436 2.7
    message["Precedence"] = "bulk"
    if notify.importance in _IMPORTANCE:
        message["X-Priority"], message["Importance"] = _IMPORTANCE[notify.importance]
    sender = one_line(", ".join(incoming.values("from"))) or incoming.envelope_sender or "<>"
    message.set_content(f"New mail from {sender}\nSubject: {original_subject}\n",
                        charset="utf-8")
    return message.as_bytes()
