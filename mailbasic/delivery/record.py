"""Turns Postfix's log events into the delivery record, one batch per database transaction.

Deliveries, links and failed logins are plain inserts. A session spans many lines, and a
restart can fall between them, so the sessions still open are rows too (ended_at NULL),
loaded again on start; in memory they are keyed by (service, pid), since one smtpd
process serves one connection at a time. The batch's rows and the log position after
its last line commit together: after a crash the reader resumes exactly there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text, update

from mailbasic import caused
from mailbasic.delivery import postfix_log
from mailbasic.delivery.follow import Position
from mailbasic.schema import (
    DELIVERY_STATUSES,
    DeliveryAttempt,
    LogPosition,
    QueueLink,
    SmtpAuthAttempt,
    SmtpSession,
)

log = logging.getLogger("mailbasic.delivery")
# Longer than any session Postfix lets run (smtpd processes serve one connection at a
# time, end after max_use connections, and time out idle clients within minutes).
STALE_SESSION = timedelta(hours=1)

def _lower(address: str | None) -> str | None:
    """Addresses are stored lower case, as in the transaction log."""
    return address.lower() if address is not None else None


_CAUSE_KINDS = {"vacation": "vacation reply", "notify": "filter notification"}
_NOTIFICATION_KINDS = {"non-delivery": "non-delivery notification",
                       "delay": "delay notification", "delivery": "delivery notification",
                       "success": "success notification"}


@dataclass
class OpenSession:
    """A session between its connect line and its end, as its row will be written."""

    values: dict[str, Any]
    id: int | None = None              # None until inserted
    changed: bool = True
    auth_failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Batch:
    """The rows one batch of lines makes, gathered before the transaction."""

    attempts: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    expired: list[tuple[str, datetime, str]] = field(default_factory=list)
    # Sessions that left the open ones during the batch (a new connect of their process)
    # and failed logins of a session whose connect was never read.
    replaced: list[OpenSession] = field(default_factory=list)
    orphan_failures: list[dict[str, Any]] = field(default_factory=list)


class DeliveryRecorder:
    def __init__(self, engine: Engine, source: str) -> None:
        # The daemons' shared engine autocommits each statement; a batch and its position
        # must commit together, so here it is a real transaction.
        self.engine = engine.execution_options(isolation_level="READ COMMITTED")
        self.source = source
        self.sessions: dict[tuple[str, int], OpenSession] = {}
        self.handlers: dict[type, Callable[[Any, Batch], None]] = {
            postfix_log.Delivery: self._delivery,
            postfix_log.Expired: self._expired,
            postfix_log.Notification: self._notification,
            postfix_log.MessageId: self._message_id,
            postfix_log.Connect: self._connect,
            postfix_log.TlsEstablished: self._tls,
            postfix_log.AuthFailed: self._auth_failed,
            postfix_log.SessionQueued: self._session_queued,
            postfix_log.Rejected: self._rejected,
            postfix_log.SessionLost: self._lost,
            postfix_log.Disconnect: self._disconnect,
        }

    def start(self) -> Position | None:
        """The stored position (None: never read), and the sessions still open."""
        with self.engine.connect() as connection:
            row = connection.execute(select(LogPosition).where(
                LogPosition.source == self.source)).one_or_none()
            self.sessions = {
                (session.service, session.pid): OpenSession(
                    dict(session._mapping), id=session.id, changed=False)
                for session in connection.execute(select(SmtpSession.__table__).where(
                    SmtpSession.ended_at.is_(None)))}
        if row is None:
            return None
        return Position(row.inode, row.offset, row.fingerprint)

    def store(self, parsed: Iterable[object], position: Position) -> None:
        """Record a batch's events and the position after its last line, atomically."""
        batch, latest = Batch(), None
        for event in parsed:
            handler = self.handlers.get(type(event))
            if handler is not None:
                handler(event, batch)
                latest = getattr(event, "time", latest)
        if latest is not None:
            self._end_stale(latest)
        with self.engine.begin() as connection:
            self._write(connection, batch)
            self._write_position(connection, position)
        self._forget_ended()

    # -- per event ---------------------------------------------------------------------

    def _delivery(self, event: postfix_log.Delivery, batch: Batch) -> None:
        if event.status not in DELIVERY_STATUSES:  # the table's check would refuse the batch
            log.warning("delivery-log: stage=parse verdict=skipped reason=unknown status "
                        "%r of %s", event.status, event.queue_id)
            return
        batch.attempts.append({
            "queue_id": event.queue_id, "recipient": event.recipient.lower(),
            "orig_recipient": event.orig_recipient.lower() if event.orig_recipient else None,
            "attempted_at": event.time, "service": event.service, "relay": event.relay,
            "delay": event.delay, "dsn": event.dsn, "status": event.status,
            "reply": event.reply})

    def _expired(self, event: postfix_log.Expired, batch: Batch) -> None:
        batch.expired.append((event.queue_id, event.time, event.reason))

    def _notification(self, event: postfix_log.Notification, batch: Batch) -> None:
        kind = _NOTIFICATION_KINDS.get(event.kind)
        if kind:
            batch.links.append({"queue_id": event.queue_id, "kind": kind,
                                "caused_queue_id": event.new_queue_id,
                                "linked_at": event.time})

    def _message_id(self, event: postfix_log.MessageId, batch: Batch) -> None:
        if cause := caused.cause_of(event.message_id):
            kind, queue_id = cause
            batch.links.append({"queue_id": queue_id, "kind": _CAUSE_KINDS[kind],
                                "caused_queue_id": event.queue_id, "linked_at": event.time})

    def _connect(self, event: postfix_log.Connect, batch: Batch) -> None:
        key = (event.service, event.pid)
        earlier = self.sessions.get(key)   # the process's previous session
        if earlier is not None:
            if earlier.values["ended_at"] is None:  # no end logged: Postfix killed, lines lost
                self._end(earlier, event.time, "unknown: no end logged")
            batch.replaced.append(earlier)
        self.sessions[key] = OpenSession({
            "service": event.service, "pid": event.pid, "connected_at": event.time,
            "ended_at": None, "client_name": event.client_name,
            "client_address": event.client_address, "client_port": event.client_port,
            "tls": None, "auth_user": None, "end": None, "commands": None,
            "refusals": [], "queue_ids": []})

    def _session(self, event: Any) -> OpenSession | None:
        session = self.sessions.get((event.service, event.pid))
        if session is not None:
            session.changed = True
        return session

    def _tls(self, event: postfix_log.TlsEstablished, batch: Batch) -> None:
        if session := self._session(event):
            session.values["tls"] = f"{event.protocol} {event.cipher}"

    def _auth_failed(self, event: postfix_log.AuthFailed, batch: Batch) -> None:
        session = self._session(event)
        session_values = session.values if session else {}
        failure = {"attempted_at": event.time, "mechanism": event.mechanism,
                   "username": event.sasl_username, "succeeded": False,
                   "reason": event.reason,
                   "client_address": session_values.get("client_address",
                                                        event.client_address)}
        if session is not None:
            session.auth_failures.append(failure)
        else:
            batch.orphan_failures.append({**failure, "session_id": None})

    def _session_queued(self, event: postfix_log.SessionQueued, batch: Batch) -> None:
        if session := self._session(event):
            session.values["queue_ids"] = [*session.values["queue_ids"], event.queue_id]
            if event.sasl_username:
                session.values["auth_user"] = event.sasl_username.lower()

    def _rejected(self, event: postfix_log.Rejected, batch: Batch) -> None:
        if session := self._session(event):
            session.values["refusals"] = [*session.values["refusals"], {
                "at": event.time.isoformat(), "stage": event.stage, "reply": event.reply,
                "from": _lower(event.sender), "to": _lower(event.recipient),
                "helo": event.helo}]

    def _lost(self, event: postfix_log.SessionLost, batch: Batch) -> None:
        if session := self._session(event):
            session.values["end"] = event.what

    def _disconnect(self, event: postfix_log.Disconnect, batch: Batch) -> None:
        if session := self._session(event):
            session.values["commands"] = event.commands
            self._end(session, event.time, session.values["end"] or "disconnect")

    def _end_stale(self, now: datetime) -> None:
        """A session whose end was never logged (Postfix killed, lines lost) and whose
        process never served another: ended once it is older than any real one."""
        for session in self.sessions.values():
            if (session.values["ended_at"] is None
                    and session.values["connected_at"] < now - STALE_SESSION):
                self._end(session, now, "unknown: no end logged")

    @staticmethod
    def _end(session: OpenSession, when: datetime, end: str) -> None:
        session.values["ended_at"], session.values["end"] = when, end
        session.changed = True

    # -- the transaction ---------------------------------------------------------------

    def _write(self, connection: Connection, batch: Batch) -> None:
        if batch.attempts:
            connection.execute(insert(DeliveryAttempt), batch.attempts)
        if batch.links:
            connection.execute(insert(QueueLink), batch.links)
        for queue_id, when, reason in batch.expired:
            # Postfix gives up on the message as a whole; each recipient still deferred
            # then has its last word: expired.
            connection.execute(_EXPIRE, {"queue_id": queue_id, "at": when,
                                         "reply": reason})
        for session in [*batch.replaced, *self.sessions.values()]:
            if session.changed:
                self._write_session(connection, session)
        if batch.orphan_failures:
            connection.execute(insert(SmtpAuthAttempt), batch.orphan_failures)

    def _write_session(self, connection: Connection, session: OpenSession) -> None:
        if session.id is None:
            session.id = connection.execute(
                insert(SmtpSession).returning(SmtpSession.id), session.values).scalar_one()
        else:
            values = {key: value for key, value in session.values.items() if key != "id"}
            connection.execute(update(SmtpSession).where(SmtpSession.id == session.id),
                               values)
        if session.auth_failures:
            connection.execute(insert(SmtpAuthAttempt), [
                {**failure, "session_id": session.id} for failure in session.auth_failures])

    def _write_position(self, connection: Connection, position: Position) -> None:
        connection.execute(_POSITION, {"source": self.source, "inode": position.inode,
                                       "offset": position.offset,
                                       "fingerprint": position.fingerprint,
                                       "now": datetime.now(UTC)})

    def _forget_ended(self) -> None:
        """After the commit: written sessions are clean, ended ones leave memory."""
        for key, session in list(self.sessions.items()):
            session.changed, session.auth_failures = False, []
            if session.values["ended_at"] is not None:
                del self.sessions[key]


# Only the recipients whose last attempt was a deferral; their delay runs on to the end.
_EXPIRE = text("""
INSERT INTO delivery_attempts (queue_id, recipient, orig_recipient, attempted_at, service,
                               relay, delay, dsn, status, reply)
SELECT queue_id, recipient, orig_recipient, CAST(:at AS timestamptz), service, 'none',
       delay + GREATEST(EXTRACT(EPOCH FROM CAST(:at AS timestamptz) - attempted_at), 0),
       dsn, 'expired', :reply
FROM (SELECT DISTINCT ON (recipient) *
      FROM delivery_attempts WHERE queue_id = :queue_id
      ORDER BY recipient, attempted_at DESC, id DESC) AS latest
WHERE status = 'deferred'
""")

_POSITION = text("""
INSERT INTO log_positions (source, inode, "offset", fingerprint, updated_at)
VALUES (:source, :inode, :offset, :fingerprint, :now)
ON CONFLICT (source) DO UPDATE SET inode = EXCLUDED.inode, "offset" = EXCLUDED."offset",
    fingerprint = EXCLUDED.fingerprint, updated_at = EXCLUDED.updated_at
""")
