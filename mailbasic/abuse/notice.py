"""What the customer is told when sending from one of their mailboxes was stopped: an SMS
(queued with the suspension) and a mail to their other mailbox. Text only, no I/O."""

from __future__ import annotations

import textwrap
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from mailbasic.schema.sms import SMS_LENGTH

SMS_REASON = "sending suspended"
WIDTH = 72


def sms_text(login: str) -> str:
    text = (f"Sending from {login} was stopped: likely a stolen password sending spam. "
            "Change the password, then ask support to resume.")
    return text if len(text) <= SMS_LENGTH else text[:SMS_LENGTH - 1] + "…"


def compose_mail(login: str, other_mailbox: str, reason: str, now: datetime,
                 service_domain: str, portal_url: str) -> bytes:
    """The notice to the customer's other mailbox, from the service's postmaster."""
    message = EmailMessage(policy=SMTP)
    message["From"] = Address("Mail service", addr_spec=f"postmaster@{service_domain}")
    message["To"] = Address(addr_spec=other_mailbox)
    message["Subject"] = f"Sending from {login} has been stopped"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=service_domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies to it
    message.set_content(_body(login, other_mailbox, reason, now, portal_url),
                        charset="utf-8")
    return message.as_bytes()


def _body(login: str, other_mailbox: str, reason: str, now: datetime,
          portal_url: str) -> str:
    paragraphs = [
        "Hello,",
        f"sending mail from your mailbox {login} was stopped automatically on "
        f"{now:%Y-%m-%d at %H:%M} UTC.",
        f"Why: {reason}.",
        f"This usually means that someone else knows the password of {login} (a stolen "
        "or guessed password, or malware on one of your devices) and uses it to send "
        "spam.",
        f"What still works: {login} still receives mail, and you can read it as before. "
        "Only sending through our mail server (SMTP AUTH) is stopped.",
        "What to do now:",
        "1. Check your computers and phones for malware.",
        f"2. Change the password of {login} in the customer portal, {portal_url}/ , and "
        "enter the new one in every program and phone that sends from it. Revoke any app "
        "password you do not recognise.",
        f"3. Ask our support to resume sending for {login}.",
        f"You receive this message at {other_mailbox}, the other mailbox of your account, "
        f"because {login} may be in the wrong hands.",
    ]
    return "\n\n".join(_wrap(paragraph) for paragraph in paragraphs) + "\n"


def _wrap(paragraph: str) -> str:
    """A numbered step's continuation lines are indented under its text."""
    indent = "   " if paragraph[:2] in ("1.", "2.", "3.") else ""
    return textwrap.fill(paragraph, WIDTH, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)
