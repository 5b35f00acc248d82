"""The SMTP transaction log: record, search, purge."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, delete, or_, select, text
from sqlalchemy.orm import Session, selectinload

from mailbasic.schema import (
    DeliveryAttempt,
    MilterConnection,
    QueueLink,
    SmtpAuthAttempt,
    SmtpRecipient,
    SmtpSession,
    SmtpTransaction,
)


@dataclass(frozen=True)
class TransactionRecord:
    queue_id: str
    client_address: str
    client_name: str
    helo: str
    tls: str | None
    auth_user: str | None
    sender: str
    size: int | None
    reply: str
    recipients: list[tuple[str, str]] = field(default_factory=list)   # address, outcome
    verdicts: dict[str, Any] = field(default_factory=dict)


# One round trip for the transaction and all its recipients: the milter writes this for
# every message before it answers, so it is on the hot path.
_RECORD = text("""
WITH logged AS (
    INSERT INTO smtp_transactions (queue_id, client_address, client_name, helo, tls,
                                   auth_user, sender, size, verdicts, reply)
    VALUES (:queue_id, :client_address, :client_name, :helo, :tls, :auth_user, :sender,
            :size, CAST(:verdicts AS jsonb), :reply)
    RETURNING id
)
INSERT INTO smtp_recipients (transaction_id, address, outcome)
SELECT logged.id, recipient.address, recipient.outcome
FROM logged, unnest(CAST(:addresses AS text[]), CAST(:outcomes AS text[]))
     AS recipient(address, outcome)
""")


# Many transactions in one round trip (the milter's group commit): each row takes its id
# from the sequence first, so that its recipients can name it. The rows CTE is read twice,
# so PostgreSQL materialises it: nextval() runs once per row.
_RECORD_MANY = text("""
WITH rows AS (
    SELECT nextval(pg_get_serial_sequence('smtp_transactions', 'id')) AS id, r.*
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        queue_id text, client_address text, client_name text, helo text, tls text,
        auth_user text, sender text, size bigint, verdicts jsonb, reply text,
        addresses text[], outcomes text[])
), logged AS (
    INSERT INTO smtp_transactions (id, queue_id, client_address, client_name, helo, tls,
                                   auth_user, sender, size, verdicts, reply)
    SELECT id, queue_id, client_address, client_name, helo, tls, auth_user, sender, size,
           verdicts, reply
    FROM rows
)
INSERT INTO smtp_recipients (transaction_id, address, outcome)
SELECT rows.id, recipient.address, recipient.outcome
FROM rows, unnest(rows.addresses, rows.outcomes) AS recipient(address, outcome)
""")


def record_many(connection: Connection, entries: Sequence[TransactionRecord]) -> None:
    """The entries in one statement, as record() writes each."""
    connection.execute(_RECORD_MANY, {"rows": json.dumps([{
        "queue_id": entry.queue_id, "client_address": entry.client_address,
        "client_name": entry.client_name, "helo": entry.helo, "tls": entry.tls,
        "auth_user": entry.auth_user, "sender": entry.sender.lower(), "size": entry.size,
        "verdicts": entry.verdicts, "reply": entry.reply,
        "addresses": [address.lower() for address, _ in entry.recipients],
        "outcomes": [outcome for _, outcome in entry.recipients]} for entry in entries])})


def record(connection: Connection, entry: TransactionRecord) -> None:
    connection.execute(_RECORD, {
        "queue_id": entry.queue_id, "client_address": entry.client_address,
        "client_name": entry.client_name, "helo": entry.helo, "tls": entry.tls,
        "auth_user": entry.auth_user, "sender": entry.sender.lower(), "size": entry.size,
        "verdicts": json.dumps(entry.verdicts), "reply": entry.reply,
        "addresses": [address.lower() for address, _ in entry.recipients],
        "outcomes": [outcome for _, outcome in entry.recipients]})


def search(session: Session, *, address: str | None = None, queue_id: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           limit: int = 100) -> list[SmtpTransaction]:
    query = (select(SmtpTransaction).options(selectinload(SmtpTransaction.recipients))
             .order_by(SmtpTransaction.logged_at.desc(), SmtpTransaction.id.desc())
             .limit(limit))
    if address:
        address = address.lower()
        query = query.where(or_(
            SmtpTransaction.sender == address,
            SmtpTransaction.auth_user == address,
            SmtpTransaction.id.in_(select(SmtpRecipient.transaction_id)
                                   .where(SmtpRecipient.address == address))))
    if queue_id:
        query = query.where(SmtpTransaction.queue_id == queue_id)
    if since:
        query = query.where(SmtpTransaction.logged_at >= since)
    if until:
        query = query.where(SmtpTransaction.logged_at < until)
    return list(session.scalars(query))


def purge(session: Session, older_than: datetime) -> int:
    """The transactions older than that, and with them the delivery record of the same
    age (attempts, links, sessions and their logins, milter connections): one retention
    for the whole log. Returns the number of transactions removed."""
    for table, column in ((DeliveryAttempt, DeliveryAttempt.attempted_at),
                          (QueueLink, QueueLink.linked_at),
                          (SmtpAuthAttempt, SmtpAuthAttempt.attempted_at),
                          (SmtpSession, SmtpSession.connected_at),
                          (MilterConnection, MilterConnection.connected_at)):
        session.execute(delete(table).where(column < older_than))
    result = session.execute(delete(SmtpTransaction)
                             .where(SmtpTransaction.logged_at < older_than))
    return cast(CursorResult[Any], result).rowcount  # a DML statement's result
