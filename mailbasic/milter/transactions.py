"""Writes one SMTP transaction log record per transaction the milter saw."""

from __future__ import annotations

from collections.abc import Iterable

from mailbasic import smtplog
from mailbasic.config import Settings
from mailbasic.directory import directory_engine, retrying
from mailbasic.milter.decisions import Outcome, QueueNotification
from mailbasic.milter.message import Client
from mailbasic.sms import store as sms_store
from mailbasic.smtplog import TransactionRecord


class TransactionLog:
    def __init__(self, settings: Settings) -> None:
        # The process's one pool, in transactions: the record and the SMS outbox rows
        # are written together or not at all.
        self.engine = directory_engine(settings).execution_options(
            isolation_level="READ COMMITTED")

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
        sender=sender, size=size, reply=reply, recipients=recipients,
        verdicts={outcome.stage: {"verdict": outcome.verdict, "reason": outcome.reason}
                  for outcome in outcomes})
