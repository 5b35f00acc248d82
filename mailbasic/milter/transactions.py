"""Writes one SMTP transaction log record per transaction the milter saw."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import create_engine

from mailbasic import smtplog
from mailbasic.config import Settings, require_database_url
from mailbasic.directory import retrying
from mailbasic.milter.decisions import Outcome, QueueNotification
from mailbasic.milter.message import Client
from mailbasic.sms import store as sms_store
from mailbasic.smtplog import TransactionRecord


class TransactionLog:
    def __init__(self, settings: Settings) -> None:
        # No pre-ping: a dropped connection fails one message (a tempfail, retried by
        # the sender) and the pool replaces it; pinging would cost a round trip each time.
        self.engine = create_engine(require_database_url(settings), pool_size=10, max_overflow=40,
                                    connect_args={"connect_timeout": 5})

    @retrying
    def record(self, entry: TransactionRecord,
               notifications: Iterable[QueueNotification] = ()) -> None:
        """The log record and the message's SMS notifications, in one transaction."""
        with self.engine.begin() as connection:
            smtplog.record(connection, entry)
            sms_store.queue(connection, notifications)


def make_record(queue_id: str, client: Client, sender: str, size: int | None,
                recipients: list[tuple[str, str]], outcomes: list[Outcome],
                reply: str) -> TransactionRecord:
    return TransactionRecord(
        queue_id=queue_id, client_address=client.address, client_name=client.name,
        helo=client.helo, tls=client.tls, auth_user=client.auth_user,
        sender=sender.strip("<>"), size=size, reply=reply,
        recipients=[(address.strip("<>"), outcome) for address, outcome in recipients],
        verdicts={outcome.stage: {"verdict": outcome.verdict, "reason": outcome.reason}
                  for outcome in outcomes})
