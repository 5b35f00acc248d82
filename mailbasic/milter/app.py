"""The pymilter adapter: collects the transaction, runs the pipeline, applies the outcome.

This is the protocol boundary. Collecting callbacks never reply (@Milter.noreply). At
end of message every exception becomes a temporary failure (451): a sender retries, no
mail is lost, and nothing passes unchecked.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import Milter
import milter

from mailbasic import dbdeadline
from mailbasic.config import Settings
from mailbasic.directory import directory_engine
from mailbasic.mailer import Mailer
from mailbasic.milter.connections import ConnectionLog
from mailbasic.milter.decisions import (
    AddHeader,
    AddRecipient,
    ChangeSender,
    DeleteHeader,
    DeleteRecipient,
    Outcome,
    QueueNotification,
    ReplaceBody,
    Reply,
    SendMessage,
)
from mailbasic.milter.message import Client, Message
from mailbasic.milter.spool import SPOOL_PREFIX, Spool, remove_left_by
from mailbasic.milter.stages import Pipeline
from mailbasic.milter.transactions import TransactionLog, make_record
from mailbasic.milter.workers import Supervisor, worker_count
from mailbasic.rules.recipient import bare_address

log = logging.getLogger("mailbasic.milter")

_SIZE_PARAMETER = re.compile(r"^SIZE=(\d{1,15})$", re.IGNORECASE)
# A worker's share of [database] pool_size is never below this.
MIN_WORKER_POOL = 5
INTERNAL_ERROR = Reply("451", "4.3.0", "Temporary processing error, please try again later")


ACCEPTED = "250 accepted"

# pymilter has no type information: its callbacks' answers, as the ints they are.
CONTINUE: int = Milter.CONTINUE
ACCEPT: int = Milter.ACCEPT
DISCARD: int = Milter.DISCARD
REJECT: int = Milter.REJECT
TEMPFAIL: int = Milter.TEMPFAIL


@Milter.rejected_recipients  # Postfix shows us refused RCPTs too: they belong in the log
class MailbasicMilter(Milter.Base):
    """One instance per SMTP connection (libmilter calls it from one thread at a time)."""

    pipeline: Pipeline
    settings: Settings
    transactions: TransactionLog
    mailer: Mailer
    connections: ConnectionLog | None = None

    def __init__(self) -> None:
        self.client = Client(address="unknown", name="unknown")
        self.client_port: int | None = None
        self.connected_at = datetime.now(UTC)
        self.transaction_count = 0
        self.spool: Spool | None = None
        self._reset()

    def _reset(self) -> None:
        if self.spool is not None:
            self.spool.close()
        self.spool = None
        self.in_transaction = False
        self.sender = ""  # bare, as every address from here on: "" is the null sender
        self.announced_size: int | None = None
        self.recipients: list[str] = []
        self.refused_recipients: list[str] = []
        self.headers: list[tuple[str, bytes]] = []
        self.body_offset = 0

    @Milter.noreply
    def connect(self, hostname: str | None, family: int,
                hostaddr: tuple[str, int] | tuple[str, int, int, int] | str | None) -> int:
        address = hostaddr[0] if isinstance(hostaddr, tuple) else str(hostaddr)
        self.client_port = hostaddr[1] if isinstance(hostaddr, tuple) else None
        self.client = Client(address=address, name=hostname or "unknown")
        return CONTINUE

    @Milter.noreply
    def hello(self, helo: str) -> int:
        tls_version, cipher = self.getsymval("{tls_version}"), self.getsymval("{cipher}")
        self.client = Client(self.client.address, self.client.name, helo=helo,
                             tls=f"{tls_version} {cipher}" if tls_version else None)
        return CONTINUE

    def envfrom(self, sender: str, *parameters: str) -> int:
        self._reset()
        self.transaction_count += 1
        tls_version, cipher = self.getsymval("{tls_version}"), self.getsymval("{cipher}")
        self.client = Client(self.client.address, self.client.name, self.client.helo,
                             tls=f"{tls_version} {cipher}" if tls_version else None,
                             auth_user=self.getsymval("{auth_authen}") or None)
        self.in_transaction, self.sender = True, bare_address(sender)
        for parameter in parameters:
            if match := _SIZE_PARAMETER.match(parameter):
                self.announced_size = int(match.group(1))
        refusal = self.pipeline.check_announced_size(self.announced_size)
        if refusal:
            log.info("%s: stage=size verdict=reject reason=%s client=%s[%s] from=%s",
                     "NOQUEUE", f"announced SIZE={self.announced_size}", self.client.name,
                     self.client.address, self.sender)
            self._record_quietly("NOQUEUE", self.announced_size,
                                 [Outcome("size", "reject", "announced SIZE")], str(refusal))
            self._reset()
            return self._refuse(refusal)
        self.spool = Spool(self.settings.spool_threshold, self.settings.spool_directory)
        return CONTINUE

    def _message_spool(self) -> Spool:
        """The spool envfrom opened; libmilter sends no message data before MAIL FROM."""
        if self.spool is None:
            raise RuntimeError("milter: message data outside a transaction")
        return self.spool

    @Milter.noreply
    def envrcpt(self, recipient: str, *parameters: str) -> int:
        if self.getsymval("{rcpt_mailer}") == "error":  # Postfix refused it already
            self.refused_recipients.append(bare_address(recipient))
        else:
            self.recipients.append(bare_address(recipient))
        return CONTINUE

    @Milter.decode("bytes")
    @Milter.noreply
    def header(self, name: str, value: bytes) -> int:
        self.headers.append((name, value))
        self._message_spool().write(name.encode("ascii", "replace") + b": " + value
                                    + b"\r\n")
        return CONTINUE

    @Milter.noreply
    def eoh(self) -> int:
        spool = self._message_spool()
        spool.write(b"\r\n")
        self.body_offset = spool.size
        return CONTINUE

    @Milter.noreply
    def body(self, chunk: bytes) -> int:
        self._message_spool().write(chunk)
        return CONTINUE

    def eom(self) -> int:
        queue_id: str = self.getsymval("i") or "NOQUEUE"
        try:
            # In the try: even a missing spool is a 451, as every failure here.
            message = Message(queue_id=queue_id, client=self.client,
                              sender=self.sender, recipients=self.recipients,
                              headers=self.headers, spool=self._message_spool(),
                              body_offset=self.body_offset,
                              announced_size=self.announced_size)
            outcomes = self.pipeline.run(message)
            for outcome in outcomes:
                self._log(message, outcome)
            refusal = next((outcome.refusal for outcome in outcomes if outcome.refusal), None)
            reply = str(refusal) if refusal else ACCEPTED
            # Recorded before answering: an accepted message is always in the log, and
            # its SMS notifications are in the outbox.
            notifications = [] if refusal else [
                action for outcome in outcomes for action in outcome.actions
                if isinstance(action, QueueNotification)]
            self.transactions.record(make_record(
                message.queue_id, self.client, self.sender, message.size,
                self._recipient_outcomes("refused" if refusal else "accepted", outcomes),
                outcomes, reply), notifications)
            if refusal:
                return self._refuse(refusal)
            if any(outcome.discard for outcome in outcomes):
                self._send_replies(message.queue_id, outcomes)
                return DISCARD  # every recipient's rules said: deliver nowhere
            self._apply(outcomes)
            self._send_replies(message.queue_id, outcomes)
            return ACCEPT
        except Exception:
            log.exception("%s: stage=milter verdict=tempfail reason=internal error "
                          "client=%s[%s]", queue_id, self.client.name,
                          self.client.address)
            return self._refuse(INTERNAL_ERROR)
        finally:
            self._reset()

    def abort(self) -> int:
        if self.in_transaction:  # the client gave up, or Postfix refused every recipient
            self._record_quietly(self.getsymval("i") or "NOQUEUE", None, [],
                                 "no message: transaction aborted")
        self._reset()
        return CONTINUE

    def close(self) -> int:
        self._reset()
        if self.connections is not None:
            self.connections.add(
                connected_at=self.connected_at, closed_at=datetime.now(UTC),
                client_address=self.client.address, client_port=self.client_port,
                client_name=self.client.name, helo=self.client.helo, tls=self.client.tls,
                transactions=self.transaction_count)
        return CONTINUE

    def _apply(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            for action in outcome.actions:
                if isinstance(action, AddHeader):
                    # pymilter: index 0 is smfi_insheader at the top, -1 smfi_addheader.
                    self.addheader(action.name, action.value, 0 if action.prepend else -1)
                elif isinstance(action, DeleteHeader):
                    self.chgheader(action.name, action.index, "")
                elif isinstance(action, ReplaceBody):
                    for chunk in action.chunks():
                        self.replacebody(chunk)
                elif isinstance(action, AddRecipient):
                    self.addrcpt(f"<{action.address}>")
                elif isinstance(action, DeleteRecipient):
                    self.delrcpt(f"<{action.address}>")
                elif isinstance(action, ChangeSender):
                    self.chgfrom(f"<{action.address}>")

    def _send_replies(self, queue_id: str, outcomes: list[Outcome]) -> None:
        """After the decision to accept: a reply never goes out for a refused message."""
        for outcome in outcomes:
            for action in outcome.actions:
                if isinstance(action, SendMessage):
                    self.mailer.send_later(queue_id, action.recipient, action.data)

    def _recipient_outcomes(self, outcome: str,
                            outcomes: Sequence[Outcome] = ()) -> list[tuple[str, str]]:
        detail = {address.lower(): what for stage in outcomes
                  for address, what in stage.recipients}
        return ([(recipient, self._detailed(outcome, detail, recipient))
                 for recipient in self.recipients]
                + [(recipient, "refused by Postfix") for recipient in self.refused_recipients])

    @staticmethod
    def _detailed(outcome: str, detail: dict[str, str], recipient: str) -> str:
        what = detail.get(recipient.lower()) if outcome == "accepted" else None
        return f"{outcome}: {what}" if what else outcome

    def _record_quietly(self, queue_id: str, size: int | None, outcomes: list[Outcome],
                        reply: str) -> None:
        """For transactions that end without a message: a failure is logged, not fatal."""
        try:
            self.transactions.record(make_record(queue_id, self.client, self.sender, size,
                                                 self._recipient_outcomes("not delivered"),
                                                 outcomes, reply))
        except Exception:
            log.exception("%s: stage=log verdict=error reason=transaction not recorded "
                          "client=%s[%s]", queue_id, self.client.name, self.client.address)

    def _refuse(self, reply: Reply) -> int:
        self.setreply(reply.code, reply.status, reply.text)
        return TEMPFAIL if reply.is_temporary else REJECT

    def _log(self, message: Message, outcome: Outcome) -> None:
        log.info("%s: stage=%s verdict=%s reason=%s client=%s[%s] from=<%s> to=%s",
                 message.queue_id, outcome.stage, outcome.verdict, outcome.reason or "-",
                 message.client.name, message.client.address, message.sender,
                 ",".join(message.recipients))


def prepare_spool_directory(path: str) -> None:
    """Ours alone (0700), and emptied: a milter that was killed left the bodies it was
    reading, and nothing else reads them."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    for leftover in Path(path).glob(f"{SPOOL_PREFIX}*"):
        leftover.unlink(missing_ok=True)
        log.info("milter: removed spool file %s left by an earlier run", leftover.name)


def configure(settings: Settings, pipeline: Pipeline | None = None,
              transactions: TransactionLog | None = None) -> None:
    """Build what every connection shares, once: settings, stages, the log's engine."""
    MailbasicMilter.settings = settings
    MailbasicMilter.pipeline = pipeline or Pipeline(settings)
    MailbasicMilter.transactions = transactions or TransactionLog(settings)
    MailbasicMilter.mailer = Mailer(settings)
    MailbasicMilter.connections = (ConnectionLog(directory_engine(settings))
                                   if settings.log_connections else None)


def run(settings: Settings) -> int:
    """Serve milter connections on settings.milter_socket until stopped, in as many
    worker processes as configured (mailbasic/milter/workers.py); the exit status."""
    dbdeadline.install(settings.database_deadline)
    prepare_spool_directory(settings.spool_directory)
    if settings.milter_socket.startswith("unix:"):
        os.umask(0o007)  # the socket: ours and our group's (postfix), nobody else's
    Milter.factory = MailbasicMilter
    Milter.set_flags(Milter.ADDHDRS + Milter.CHGHDRS + Milter.CHGBODY + Milter.ADDRCPT
                     + Milter.DELRCPT + Milter.CHGFROM)
    workers = worker_count(settings.milter_workers)
    log.info("mailbasic milter listening on %s with %d worker process%s",
             settings.milter_socket, workers, "" if workers == 1 else "es")
    if workers == 1:
        serve(settings)
        return 0
    usable = open_socket(settings.milter_socket)
    # The database connections stay what one process would take: shared out.
    shared = replace(settings, database_pool_size=max(
        -(-settings.database_pool_size // workers), MIN_WORKER_POOL))
    return Supervisor(workers, partial(serve, shared),
                      reaped=partial(remove_spool_files, settings.spool_directory),
                      usable=usable).run()


def serve(settings: Settings) -> None:
    """One process's milter: its stages, pools and threads, then libmilter's loop."""
    configure(settings)
    # Postfix waits 300 s for a milter; a dead connection is dropped after 600 s idle.
    Milter.runmilter("mailbasic", settings.milter_socket, timeout=600)


def open_socket(spec: str) -> Callable[[], bool]:
    """Listen now, before the workers fork: libmilter opens a process's socket once, so
    runmilter in each worker finds it open and accepts on it. Returns whether Postfix can
    still reach it: a unix socket's name is removed by a worker whose libmilter shuts
    down (running as a user other than root), while the others still accept on it."""
    milter.setconn(spec)
    milter.register("mailbasic")
    milter.opensocket(True)     # True: a socket file left by a killed milter is removed
    kind, _, path = spec.partition(":")
    if kind not in ("unix", "local"):
        return lambda: True
    listening = os.stat(path)
    return partial(same_file, path, (listening.st_dev, listening.st_ino))


def same_file(path: str, identity: tuple[int, int]) -> bool:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    return (found.st_dev, found.st_ino) == identity


def remove_spool_files(directory: str, pid: int) -> None:
    """A worker's spool files, after it ended (it may have died holding some)."""
    if removed := remove_left_by(directory, pid):
        log.info("milter: removed %d spool file(s) left by worker %d", removed, pid)
