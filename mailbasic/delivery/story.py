"""Reading the delivery record: a message's whole story, failed logins, sessions.

A story joins what the milter wrote at arrival (smtp_transactions: client, stage
verdicts, each recipient's outcome) with what Postfix did next (delivery_attempts, by
queue id), the SMTP session it came in, and the messages it caused (queue_links),
followed to their own final replies. Views are plain dicts: the CLI prints them as text
or JSON, the portal will render them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbasic.schema import (
    DeliveryAttempt,
    MilterConnection,
    QueueLink,
    SmtpAuthAttempt,
    SmtpSession,
    SmtpTransaction,
)

# Queue ids are reused in time; a message's attempts start with its arrival.
_CLOCK_SLACK = timedelta(minutes=1)
MAX_DEPTH = 4  # a bounce of a vacation reply of ... : deep enough, never a loop


def attempt_view(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {"at": attempt.attempted_at.isoformat(), "recipient": attempt.recipient,
            "orig_recipient": attempt.orig_recipient, "status": attempt.status,
            "dsn": attempt.dsn, "relay": attempt.relay, "delay": attempt.delay,
            "reply": attempt.reply, "service": attempt.service}


def deliveries(session: Session, queue_id: str, since: datetime) -> list[dict[str, Any]]:
    rows = session.scalars(select(DeliveryAttempt).where(
        DeliveryAttempt.queue_id == queue_id,
        DeliveryAttempt.attempted_at >= since - _CLOCK_SLACK)
        .order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id))
    return [attempt_view(row) for row in rows]


def caused(session: Session, queue_id: str, since: datetime,
           depth: int = 0) -> list[dict[str, Any]]:
    """The messages this one caused, each with its deliveries and what it caused."""
    if depth >= MAX_DEPTH:
        return []
    links = session.scalars(select(QueueLink).where(
        QueueLink.queue_id == queue_id, QueueLink.linked_at >= since - _CLOCK_SLACK)
        .order_by(QueueLink.linked_at, QueueLink.id))
    return [{"kind": link.kind, "queue_id": link.caused_queue_id,
             "at": link.linked_at.isoformat(),
             "deliveries": deliveries(session, link.caused_queue_id, link.linked_at),
             "caused": caused(session, link.caused_queue_id, link.linked_at, depth + 1)}
            for link in links]


def session_of(session: Session, queue_id: str, since: datetime) -> dict[str, Any] | None:
    row = session.scalars(select(SmtpSession).where(
        SmtpSession.queue_ids.contains([queue_id]),
        SmtpSession.connected_at <= since + _CLOCK_SLACK,
        SmtpSession.connected_at >= since - timedelta(days=1))
        .order_by(SmtpSession.connected_at.desc()).limit(1)).first()
    return None if row is None else session_view(session, row)


def session_view(session: Session, row: SmtpSession) -> dict[str, Any]:
    helo = session.scalar(select(MilterConnection.helo).where(
        MilterConnection.client_address == row.client_address,
        MilterConnection.client_port == row.client_port,
        MilterConnection.connected_at.between(row.connected_at - _CLOCK_SLACK,
                                              row.connected_at + _CLOCK_SLACK))
        # The nearest in time: a client's port may be used again within the slack (many
        # connections from one address, as from a local webmail or fetching job).
        .order_by(func.abs(func.extract("epoch", MilterConnection.connected_at
                                         - row.connected_at)))
        .limit(1)) if row.client_port is not None else None
    failures = session.scalars(select(SmtpAuthAttempt).where(
        SmtpAuthAttempt.session_id == row.id).order_by(SmtpAuthAttempt.id))
    return {"service": row.service, "connected_at": row.connected_at.isoformat(),
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            "client": f"{row.client_name}[{row.client_address}]"
                      + (f":{row.client_port}" if row.client_port else ""),
            "helo": helo, "tls": row.tls, "auth_user": row.auth_user,
            "auth_failures": [{"at": failure.attempted_at.isoformat(),
                               "mechanism": failure.mechanism,
                               "username": failure.username, "reason": failure.reason}
                              for failure in failures],
            "refusals": row.refusals, "queue_ids": row.queue_ids, "end": row.end,
            "commands": row.commands}


def story(session: Session, transaction: SmtpTransaction) -> dict[str, Any]:
    arrived = transaction.logged_at
    queue_id = transaction.queue_id
    known = queue_id != "NOQUEUE"
    return {
        "queue_id": queue_id, "logged_at": arrived.isoformat(),
        "client": f"{transaction.client_name}[{transaction.client_address}]",
        "helo": transaction.helo, "tls": transaction.tls,
        "auth_user": transaction.auth_user, "sender": transaction.sender,
        "size": transaction.size, "reply": transaction.reply,
        "verdicts": transaction.verdicts,
        "recipients": [{"address": recipient.address, "outcome": recipient.outcome}
                       for recipient in transaction.recipients],
        "deliveries": deliveries(session, queue_id, arrived) if known else [],
        "caused": caused(session, queue_id, arrived) if known else [],
        "session": session_of(session, queue_id, arrived) if known else None,
    }


def auth_failures(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Failed SMTP logins since then, by client address, the busiest first."""
    usernames = func.array_remove(func.array_agg(func.distinct(SmtpAuthAttempt.username)),
                                  None)
    rows = session.execute(
        select(SmtpAuthAttempt.client_address, func.count().label("failures"),
               usernames.label("usernames"),
               func.min(SmtpAuthAttempt.attempted_at).label("first"),
               func.max(SmtpAuthAttempt.attempted_at).label("last"))
        .where(SmtpAuthAttempt.attempted_at >= since, SmtpAuthAttempt.succeeded.is_(False))
        .group_by(SmtpAuthAttempt.client_address)
        .order_by(func.count().desc(), SmtpAuthAttempt.client_address))
    return [{"client_address": row.client_address, "failures": row.failures,
             "usernames": sorted(row.usernames), "first": row.first.isoformat(),
             "last": row.last.isoformat()} for row in rows]


def sessions(session: Session, since: datetime, client: str | None = None,
             without_transaction: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    query = (select(SmtpSession).where(SmtpSession.connected_at >= since)
             .order_by(SmtpSession.connected_at.desc(), SmtpSession.id.desc()).limit(limit))
    if client:
        query = query.where(SmtpSession.client_address == client)
    if without_transaction:
        query = query.where(func.cardinality(SmtpSession.queue_ids) == 0)
    return [session_view(session, row) for row in session.scalars(query)]
