"""Writes one SMTP transaction log record per transaction the milter saw.

Before the milter answers 250 the message's record is committed (an accepted message is
always in the log). The records of messages that end at the same time are committed
together: one writer thread takes every record waiting, writes them in one transaction
on one pooled connection, and wakes each message's callback when the commit that holds
its record is done. One message alone is written at once; under load a commit carries
many, so the checkout, BEGIN and COMMIT round trips are paid once per batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from mailbasic import smtplog
from mailbasic.config import Settings
from mailbasic.dbdeadline import DEADLINE_MESSAGE
from mailbasic.directory import directory_engine, retrying
from mailbasic.milter.decisions import Outcome, QueueNotification
from mailbasic.milter.message import Client
from mailbasic.sms import store as sms_store
from mailbasic.smtplog import TransactionRecord

log = logging.getLogger("mailbasic.milter")

MAX_BATCH = 200


class RecordNotWritten(RuntimeError):
    """The writer did not commit the record in time (the milter answers 451)."""


@dataclass(eq=False)     # each waiting message's own: compared by identity
class _Pending:
    entry: TransactionRecord
    notifications: tuple[QueueNotification, ...]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.done.set()


class TransactionLog:
    def __init__(self, settings: Settings) -> None:
        # The process's one pool. Records alone are one statement, atomic by itself: in
        # autocommit, without the BEGIN and COMMIT round trips. With SMS notifications,
        # in a transaction: the records and the outbox rows are written together or not
        # at all.
        self.autocommit = directory_engine(settings)
        self.engine = self.autocommit.execution_options(isolation_level="READ COMMITTED")
        # A write may take the deadline twice (retrying reconnects once): then 451.
        self.wait_seconds = 2 * settings.database_deadline + 1
        self.pending: list[_Pending] = []
        self.arrived = threading.Condition()
        threading.Thread(target=self._writer, name="transaction-log", daemon=True).start()

    def record(self, entry: TransactionRecord,
               notifications: Iterable[QueueNotification] = ()) -> None:
        """The log record and the message's SMS notifications, committed on return."""
        pending = _Pending(entry, tuple(notifications))
        with self.arrived:
            self.pending.append(pending)
            self.arrived.notify()
        if not pending.done.wait(self.wait_seconds):
            with self.arrived:
                if pending in self.pending:     # not taken yet: never written, then
                    self.pending.remove(pending)
            raise RecordNotWritten(f"no commit within {self.wait_seconds:g}s")
        if pending.error is not None:
            # One error may be every record's of a batch: each caller raises its own.
            raise RecordNotWritten(f"not committed: {pending.error}") from pending.error

    def _writer(self) -> None:
        while True:
            with self.arrived:
                while not self.pending:
                    self.arrived.wait()
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            self._commit(batch)
        except Exception as error:     # each waiting callback gets it and answers 451
            if len(batch) == 1 or database_away(error):
                for pending in batch:
                    pending.finish(error)
                return
            # One record the database refuses must not fail the others: each alone.
            log.warning("milter: stage=log verdict=retry reason=a batch of %d records "
                        "failed (%s); writing each alone", len(batch), error)
            for pending in batch:
                self._write([pending])
            return
        for pending in batch:
            pending.finish()

    @retrying
    def _commit(self, batch: Sequence[_Pending]) -> None:
        entries = [pending.entry for pending in batch]
        notifications = [notification for pending in batch
                         for notification in pending.notifications]
        if not notifications:
            with self.autocommit.connect() as connection:
                smtplog.record_many(connection, entries)
            return
        with self.engine.begin() as connection:
            smtplog.record_many(connection, entries)
            sms_store.queue(connection, notifications)


def database_away(error: Exception) -> bool:
    """Unreachable or frozen: writing the records one by one would only wait longer."""
    return isinstance(error, DBAPIError) and (
        error.connection_invalidated or DEADLINE_MESSAGE in str(error.orig))


def make_record(queue_id: str, client: Client, sender: str, size: int | None,
                recipients: list[tuple[str, str]], outcomes: list[Outcome],
                reply: str) -> TransactionRecord:
    return TransactionRecord(
        queue_id=queue_id, client_address=client.address, client_name=client.name,
        helo=client.helo, tls=client.tls, auth_user=client.auth_user,
        sender=sender, size=size, reply=reply, recipients=recipients,
        verdicts={outcome.stage: {"verdict": outcome.verdict, "reason": outcome.reason}
                  for outcome in outcomes})
