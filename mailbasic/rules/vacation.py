"""Vacation replies: whether to answer a message (RFC 3834, RFC 5230's rules, the checks
Pigeonhole's vacation extension makes) and the reply itself.

The once-per-interval memory is the caller's (PostgreSQL, claimed atomically); sending is
the mailer's. Everything copied from the original into the reply is stripped of line
breaks first, decoded or not: a reply must never carry a header the sender wrote.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses

from mailbasic import caused
from mailbasic.rules import model
from mailbasic.rules.evaluate import decode_value, header_fields

# Local parts of senders that are programs, not people (Pigeonhole's list, and common
# "no reply" spellings): a reply would go nowhere or start a loop.
SYSTEM_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|listserv|majordomo|owner-.*|.*-request|.*-owner|"
    r"no-?reply|do-?not-?reply|noreply-.*|bounces?(\+.*)?|.*-bounces?)$", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_BULK = {"bulk", "list", "junk"}


@dataclass(frozen=True)
class Vacation:
    first_day: date
    last_day: date          # inclusive
    subject: str
    text: str
    interval_days: int = 7
    addresses: tuple[str, ...] = ()  # the owner's, besides the mailbox's (:addresses)

    @classmethod
    def of_filter(cls, action: model.Vacation) -> Vacation:
        """A filter's vacation action: no dates, its script decides when it applies."""
        return cls(date.min, date.max, action.subject, action.reason, action.days,
                   tuple(address.lower() for address in action.addresses))


@dataclass(frozen=True)
class Incoming:
    """The original message as far as the reply cares: envelope sender and headers
    (name, RFC 2047-decoded value)."""

    envelope_sender: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, envelope_sender: str, raw: bytes) -> Incoming:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        return cls(envelope_sender, tuple((name, decode_value(value))
                                          for name, value in header_fields(head)))

    def values(self, name: str) -> list[str]:
        return [value for header, value in self.headers if header.lower() == name.lower()]

    def first(self, name: str) -> str:
        return next(iter(self.values(name)), "")

    def addresses(self, *names: str) -> list[str]:
        values = [value for name in names for value in self.values(name)]
        return [address.lower() for _, address in getaddresses(values) if "@" in address]

    def from_addresses(self) -> list[str]:
        return self.addresses("from")


def reason_not_to_reply(vacation: Vacation, incoming: Incoming,
                        mailbox_addresses: Collection[str], today: date) -> str | None:
    """None: reply. Otherwise why not, for the log."""
    sender = incoming.envelope_sender.lower()  # bare: rules.recipient.bare_address
    if not vacation.first_day <= today <= vacation.last_day:
        return "outside vacation dates"
    if not sender:
        return "null sender"
    if incoming.first("auto-submitted").split(";")[0].strip().lower() not in ("", "no"):
        return "auto-submitted"
    if incoming.first("precedence").strip().lower() in _BULK:
        return "precedence bulk"
    if any(name.lower().startswith("list-") for name, _ in incoming.headers):
        return "mailing list"
    if incoming.first("x-spam-flag").strip().upper() == "YES":
        return "spam"
    if suppressed(incoming):
        return "auto-response suppressed"
    if SYSTEM_SENDERS.match(sender.rpartition("@")[0]):
        return "automated sender"
    own = {address.lower() for address in mailbox_addresses} | set(vacation.addresses)
    if not own.intersection(incoming.addresses("to", "cc")):
        return "not addressed directly"
    return None


def suppressed(incoming: Incoming) -> bool:
    """Exchange's X-Auto-Response-Suppress: a comma-separated list of kinds of automatic
    replies the sender does not want; OOF (out of office) and All name ours. Pigeonhole
    honours it too."""
    flags = {flag.strip().lower() for value in incoming.values("x-auto-response-suppress")
             for flag in value.split(",")}
    return bool(flags & {"oof", "all"})


def one_line(text: str, limit: int = 998) -> str:
    """Line breaks and other control characters become spaces: no header injection."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()[:limit]


def compose_reply(vacation: Vacation, incoming: Incoming, reply_from: str,
                  reply_to_address: str, now: datetime, message_id_domain: str,
                  cause: str = "") -> bytes:
    """cause: the queue id of the message answered (caused.py)."""
    reply = EmailMessage(policy=SMTP)
    reply["From"] = Address(addr_spec=reply_from)
    reply["To"] = Address(addr_spec=reply_to_address)
    original_subject = one_line(incoming.first("subject"))
    reply["Subject"] = one_line(vacation.subject) or f"Auto: {original_subject}".strip()
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = caused.message_id("vacation", cause, message_id_domain)
    reply["Auto-Submitted"] = "auto-replied"  # RFC 3834: no replies to this reply
    message_id = one_line(incoming.first("message-id"))
    if _MESSAGE_ID.match(message_id):
        references = [reference for reference in one_line(incoming.first("references")).split()
                      if _MESSAGE_ID.match(reference)]
        reply["In-Reply-To"] = message_id
        reply["References"] = " ".join(references + [message_id])
    reply.set_content(vacation.text, charset="utf-8")
    return reply.as_bytes()
