"""What the milter asks of the SMS outbox; the SMS part owns the type, the milter only
carries it (no import from sms/ back into milter/)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueNotification:
    """An SMS for a recipient mailbox, put into the outbox together with the
    transaction's log record, and only when the message is accepted."""
    mailbox_id: int
    phone: str
    text: str
    reason: str
