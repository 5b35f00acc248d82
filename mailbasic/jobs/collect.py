"""POP3 collection: every external account whose interval has passed is fetched; each
new message (by UIDL) goes through the local Postfix into its mailbox and is recorded,
then deleted from the server unless the account leaves mail there.

Recorded only after Postfix accepted it: a run that dies in between fetches that one
message again next time (twice rather than never); every other message once.

Accounts are collected side by side (collect.workers), each under an advisory lock of
its own and within its time (collect.account_seconds): a slow or hostile server holds
up its own account only. Messages over the service's size limit are skipped and stay on
the server; the account's status says so."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TypeVar

from sqlalchemy import ColumnElement, Engine, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mailbasic import db
from mailbasic.collect import passwords
from mailbasic.collect.destination import Destinations
from mailbasic.collect.inject import Injector, MessageRefused
from mailbasic.collect.pop3 import CollectError, Listed, MessageTooLarge, Pop3Server, Pop3Session
from mailbasic.jobs.runner import JobRun
from mailbasic.schema import CollectAccount, CollectedMessage, Mailbox
from mailbasic.schema.collect import OversizedMessage

# The first key of the two-key advisory locks on collection accounts ("coll"); the
# second is the account id. Two-key locks never collide with the jobs' one-key locks.
ACCOUNT_LOCKS = 0x636F6C6C
MIB = 1024**2

_Uidls = TypeVar("_Uidls", CollectedMessage, OversizedMessage)  # the UIDLs remembered


@dataclass
class Outcome:
    """What one account's run did; its status line is built from it."""

    fetched: int = 0
    notices: list[str] = field(default_factory=list)  # messages left on the server
    error: str | None = None

    def status(self) -> str | None:
        return "; ".join([*self.notices, *filter(None, [self.error])]) or None


def run(job: JobRun) -> None:
    with db.transaction(job.engine) as session:
        account_ids = list(session.scalars(select(CollectAccount.id)
                                           .where(_due(job.now)).order_by(CollectAccount.id)))
    with ThreadPoolExecutor(job.settings.collect_workers,
                            thread_name_prefix="collect") as workers:
        for _ in workers.map(partial(collect_locked, job), account_ids):
            pass  # surfaces the first unexpected error


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(CollectAccount.last_run_at.is_(None),
               CollectAccount.last_run_at + func.make_interval(
                   0, 0, 0, 0, 0, CollectAccount.interval_minutes) <= now)


@contextmanager
def account_lock(engine: Engine, account_id: int) -> Iterator[bool]:
    """True while this run holds the account's lock, False when another run does. A
    session lock on a connection of its own: it goes when the process dies."""
    key = {"space": ACCOUNT_LOCKS, "account": account_id}
    with engine.connect() as connection:
        taken = bool(connection.execute(
            text("SELECT pg_try_advisory_lock(:space, :account)"), key).scalar())
        connection.commit()  # the lock belongs to the session, no transaction stays open
        try:
            yield taken
        finally:
            if taken:
                connection.execute(text("SELECT pg_advisory_unlock(:space, :account)"), key)
                connection.commit()


def collect_locked(job: JobRun, account_id: int) -> None:
    with account_lock(job.engine, account_id) as taken:
        if not taken:
            job.log("collect-skip", f"account {account_id}",
                    "another run is collecting this account")
            return
        if _still_due(job, account_id):  # not collected by a run that just ended
            collect_account(job, account_id)


def _still_due(job: JobRun, account_id: int) -> bool:
    with db.transaction(job.engine) as session:
        return session.scalar(select(CollectAccount.id).where(
            CollectAccount.id == account_id, _due(job.now))) is not None


def collect_account(job: JobRun, account_id: int) -> None:
    outcome = Outcome()
    with db.transaction(job.engine) as session:
        # Removed since _still_due: the run fails here, as it did before the type check
        # (then with an AttributeError).
        account = session.get_one(CollectAccount, account_id)
        mailbox = session.get_one(Mailbox, account.mailbox_id).name
        leave = account.leave_on_server
        label = server_label(account)
        try:
            server = _server(job, account)
        except passwords.UnreadablePassword as error:
            outcome.error = str(error)
    if outcome.error is None:
        try:
            transfer(job, account_id, server, mailbox, leave, outcome)
        except CollectError as error:
            outcome.error = str(error)
    if outcome.error is not None:
        job.log("collect-failed", label, outcome.error)
    _finish(job, account_id, outcome)


def server_label(account: CollectAccount) -> str:
    return f"{account.username}@{account.host}:{account.port}"


def _server(job: JobRun, account: CollectAccount) -> Pop3Server:
    settings = job.settings
    return Pop3Server(account.host, account.port, account.security, account.username,
                      passwords.decrypt(settings, account.password_encrypted),
                      settings.collect_timeout, settings.collect_ca_file,
                      Destinations.from_settings(settings), settings.collect_account_seconds)


def transfer(job: JobRun, account_id: int, server: Pop3Server, mailbox: str,
             leave: bool, outcome: Outcome) -> None:
    """Collects what is new into `outcome`; a CollectError ends the account's run."""
    settings, limit = job.settings, job.settings.message_size_limit
    with Pop3Session(server) as pop:
        listed = pop.listing()
        seen = _uidls(job, CollectedMessage, account_id)
        new = [message for message in listed if message.uidl not in seen]
        oversized = _uidls(job, OversizedMessage, account_id)
        too_large = [message for message in new
                     if message.uidl in oversized or (message.size or 0) > limit]
        _report_too_large(job, server, too_large, limit, outcome)
        wanted = [message for message in new if message not in too_large]
        if job.dry_run:
            job.log("collect", server.label, f"{len(wanted)} new messages for {mailbox}")
            return
        _forget_gone(job, account_id, {message.uidl for message in listed})
        with Injector(settings.collect_smtp_host, settings.collect_smtp_port,
                      settings.collect_timeout) as smtp:
            for message in wanted:
                if not _collect_one(job, account_id, pop, smtp, message, mailbox, server,
                                    leave, outcome):
                    return  # the session is over; the rest follows on the next run
        if not leave:  # collected before, but that session never reached QUIT
            for message in listed:
                if message.uidl in seen:
                    pop.delete(message.number)
        pop.quit()


def _collect_one(job: JobRun, account_id: int, pop: Pop3Session, smtp: Injector,
                 message: Listed, mailbox: str, server: Pop3Server, leave: bool,
                 outcome: Outcome) -> bool:
    """Retrieves one message into a temporary file, hands it to Postfix, records it and,
    unless the account leaves mail there, deletes it on the server. False when it
    outgrew the size limit while being read, which ends the session."""
    limit = job.settings.message_size_limit
    with tempfile.TemporaryFile(prefix="mailbasic-collect-") as spool:
        try:
            pop.retrieve_into(message.number, spool, limit)
        except MessageTooLarge as grown:
            _remember_oversized(job, account_id, message.uidl, grown.size)
            job.log("collect-skipped", server.label,
                    f"message {message.uidl} grew past the size limit ({limit} bytes) "
                    f"while it was read; it stays on the server")
            outcome.notices.append(
                f"a message grew past the size limit of {_mebibytes(limit)} while it was "
                f"read and is skipped from now on (it stays on the server); the rest "
                f"follows on the next run")
            return False
        try:
            smtp.inject(spool, mailbox, server.label)
        except MessageRefused as reply:
            # It stays on the server and is offered again next run.
            job.log("collect-refused", server.label,
                    f"message {message.uidl} refused by the local server: {reply}")
            outcome.notices.append(f"a message was refused by the local mail server "
                                   f"({reply}); it stays on the server")
            return True
    _record(job, account_id, message.uidl)
    outcome.fetched += 1
    job.log("collect", server.label, f"message {message.uidl} into {mailbox}")
    if not leave:
        pop.delete(message.number)
    return True


def _report_too_large(job: JobRun, server: Pop3Server, too_large: list[Listed],
                      limit: int, outcome: Outcome) -> None:
    for message in too_large:
        size = f"{message.size} bytes" if message.size else "size unknown"
        job.log("collect-skipped", server.label,
                f"message {message.uidl} ({size}) is over the size limit ({limit} bytes); "
                f"it stays on the server")
    if too_large:
        outcome.notices.append(f"{len(too_large)} message(s) over the size limit of "
                               f"{_mebibytes(limit)} skipped; they stay on the server")


def _mebibytes(size: int) -> str:
    return f"{size / MIB:.3g} MiB"


def _uidls(job: JobRun, table: type[_Uidls], account_id: int) -> set[str]:
    with db.transaction(job.engine) as session:
        return set(session.scalars(select(table.uidl).where(table.account_id == account_id)))


def _record(job: JobRun, account_id: int, uidl: str) -> None:
    with db.transaction(job.engine) as session:
        session.execute(insert(CollectedMessage).values(account_id=account_id, uidl=uidl)
                        .on_conflict_do_nothing())


def _remember_oversized(job: JobRun, account_id: int, uidl: str, size: int) -> None:
    with db.transaction(job.engine) as session:
        session.execute(insert(OversizedMessage)
                        .values(account_id=account_id, uidl=uidl, size=size)
                        .on_conflict_do_nothing())


def _forget_gone(job: JobRun, account_id: int, listed: set[str]) -> None:
    """UIDLs the server no longer lists can never come back: forget them."""
    with db.transaction(job.engine) as session:
        _delete_unlisted(session, CollectedMessage, account_id, listed)
        _delete_unlisted(session, OversizedMessage, account_id, listed)


def _delete_unlisted(session: Session, table: type[_Uidls], account_id: int,
                     listed: set[str]) -> None:
    for row in session.scalars(select(table).where(table.account_id == account_id)):
        if row.uidl not in listed:
            session.delete(row)


def _finish(job: JobRun, account_id: int, outcome: Outcome) -> None:
    if job.dry_run:
        return
    with db.transaction(job.engine) as session:
        account = session.get(CollectAccount, account_id, with_for_update=True)
        if account is None:  # removed while it was collected
            return
        account.last_run_at = job.now
        account.last_fetched = outcome.fetched
        account.last_error = outcome.status()
        if outcome.error is None:
            account.last_success_at = job.now
