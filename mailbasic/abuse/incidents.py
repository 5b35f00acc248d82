"""One sending incident, recorded in one database transaction under the mailbox's row
lock: two daemons reporting the same login at once count each other's incidents, and
only one of them suspends (and queues the SMS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, func, insert, text, update

from mailbasic.abuse import notice
from mailbasic.schema import Mailbox, SendingIncident
from mailbasic.sms import store as sms_store
from mailbasic.sms.notification import QueueNotification

IncidentKind = Literal["rate_limit", "spam"]
Verdict = Literal["unknown-login", "already-suspended", "recorded", "suspended"]


@dataclass(frozen=True)
class Incident:
    """An authenticated login that tripped the rate limit or sent mail scored as spam."""
    login: str                 # the SASL login: the mailbox's primary address
    kind: IncidentKind
    detail: str
    queue_id: str | None = None
    client_address: str | None = None
    client_name: str = "unknown"

    @property
    def client(self) -> str:
        return f"{self.client_name}[{self.client_address or 'unknown'}]"


@dataclass(frozen=True)
class Threshold:
    incidents: int
    window_minutes: int


@dataclass(frozen=True)
class Recorded:
    """What became of an incident, for the log and for what the reporter does next."""
    verdict: Verdict
    counted: int = 0                  # in the window since the last suspension, this one too
    reason: str = ""                  # the suspension's, as stored on the mailbox
    other_mailbox: str | None = None  # the customer's other mailbox, told by mail
    sms_queued: bool = False


# The login's mailbox, locked: the count below and the suspension are one decision.
_MAILBOX_OF_LOGIN = text("""
SELECT m.id, m.customer_id, m.submission_suspended_at IS NOT NULL
FROM addresses p
JOIN domains d ON d.id = p.domain_id
JOIN mailboxes m ON m.id = p.mailbox_id
WHERE p.is_primary AND p.local_part = :local_part AND d.name = :domain
FOR UPDATE OF m
""")

# Incidents within the window, counted from the last one that suspended (by id: ids are
# taken under the row lock, so they follow the order of the decisions): after `abuse
# resume` the count starts again from nothing.
_RECENT = text("""
SELECT count(*) FROM sending_incidents
WHERE mailbox_id = :mailbox_id
  AND occurred_at > now() - make_interval(mins => :window_minutes)
  AND id > coalesce((SELECT max(id) FROM sending_incidents
                     WHERE mailbox_id = :mailbox_id AND suspended_submission), 0)
""")

_OTHER_MAILBOX = text("""
SELECT lower(p.local_part || '@' || d.name)
FROM mailboxes o
JOIN addresses p ON p.mailbox_id = o.id AND p.is_primary
JOIN domains d ON d.id = p.domain_id
WHERE o.customer_id = :customer_id AND o.id <> :mailbox_id
ORDER BY o.slot LIMIT 1
""")


def record(connection: Connection, incident: Incident, threshold: Threshold) -> Recorded:
    """Record the incident; at the threshold, stop the login's submission and queue the
    SMS. An incident while submission is stopped already is not recorded: it would count
    against the login once the admin resumed it."""
    local_part, _, domain = incident.login.lower().rpartition("@")
    row = connection.execute(_MAILBOX_OF_LOGIN, {"local_part": local_part,
                                                 "domain": domain}).first()
    if row is None:
        return Recorded("unknown-login")
    mailbox_id, customer_id, suspended = row
    if suspended:
        return Recorded("already-suspended")
    counted = 1 + connection.execute(_RECENT, {
        "mailbox_id": mailbox_id, "window_minutes": threshold.window_minutes}).scalar_one()
    suspends = counted >= threshold.incidents
    _insert(connection, mailbox_id, incident, suspends)
    if not suspends:
        return Recorded("recorded", counted)
    reason = _reason(incident, counted, threshold)
    connection.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(
        submission_suspended_at=func.now(), submission_suspended_reason=reason))
    return Recorded("suspended", counted, reason,
                    other_mailbox=_other_mailbox(connection, customer_id, mailbox_id),
                    sms_queued=_queue_sms(connection, mailbox_id, incident.login))


def _insert(connection: Connection, mailbox_id: int, incident: Incident,
            suspends: bool) -> None:
    connection.execute(insert(SendingIncident).values(
        mailbox_id=mailbox_id, kind=incident.kind, occurred_at=func.now(),
        queue_id=incident.queue_id, client_address=incident.client_address,
        detail=incident.detail, suspended_submission=suspends))


def _reason(incident: Incident, counted: int, threshold: Threshold) -> str:
    last = "spam" if incident.kind == "spam" else "rate limit"
    return (f"{counted} sending incidents within {threshold.window_minutes} minutes, "
            f"the last: {last} ({incident.detail})")


def _other_mailbox(connection: Connection, customer_id: int, mailbox_id: int) -> str | None:
    return connection.execute(_OTHER_MAILBOX, {"customer_id": customer_id,
                                               "mailbox_id": mailbox_id}).scalar()


def _queue_sms(connection: Connection, mailbox_id: int, login: str) -> bool:
    """Into the outbox in the suspension's own transaction, when the mailbox's SMS are on."""
    profile = sms_store.profile_of_mailbox(connection, mailbox_id)
    if profile is None:
        return False
    sms_store.queue(connection, [QueueNotification(
        mailbox_id, profile.phone, notice.sms_text(login), notice.SMS_REASON)])
    return True
