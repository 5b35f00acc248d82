"""POP3 collection: every external account whose interval has passed is fetched; each
new message (by UIDL) goes through the local Postfix into its mailbox and is recorded,
then deleted from the server unless the account leaves mail there.

Recorded only after Postfix accepted it: a run that dies in between fetches that one
message again next time (twice rather than never); every other message once."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert

from mailbasic import db
from mailbasic.collect import passwords
from mailbasic.collect.inject import Injector, MessageRefused
from mailbasic.collect.pop3 import CollectError, Pop3Server, Pop3Session
from mailbasic.jobs.runner import JobRun
from mailbasic.schema import CollectAccount, CollectedMessage, Mailbox


def run(job: JobRun) -> None:
    due = (select(CollectAccount.id).where(or_(
        CollectAccount.last_run_at.is_(None),
        CollectAccount.last_run_at + func.make_interval(0, 0, 0, 0, 0,
                                                        CollectAccount.interval_minutes)
        <= job.now)).order_by(CollectAccount.id))
    with db.transaction(job.engine) as session:
        account_ids = list(session.scalars(due))
    for account_id in account_ids:
        collect_account(job, account_id)


def collect_account(job: JobRun, account_id: int) -> None:
    with db.transaction(job.engine) as session:
        account = session.get(CollectAccount, account_id)
        mailbox = session.get(Mailbox, account.mailbox_id).name
        leave = account.leave_on_server
        label = server_label(account)
        try:
            server = _server(job, account)
        except passwords.UnreadablePassword as error:
            job.log("collect-failed", label, str(error))
            return _finish(job, account_id, 0, str(error), completed=False)
    try:
        fetched, refused = transfer(job, account_id, server, mailbox, leave)
    except CollectError as error:
        job.log("collect-failed", label, str(error))
        return _finish(job, account_id, 0, str(error), completed=False)
    _finish(job, account_id, fetched, refused, completed=True)


def server_label(account: CollectAccount) -> str:
    return f"{account.username}@{account.host}:{account.port}"


def _server(job: JobRun, account: CollectAccount) -> Pop3Server:
    settings = job.settings
    return Pop3Server(account.host, account.port, account.security, account.username,
                      passwords.decrypt(settings, account.password_encrypted),
                      settings.collect_timeout, settings.collect_ca_file)


def transfer(job: JobRun, account_id: int, server: Pop3Server, mailbox: str,
             leave: bool) -> tuple[int, str | None]:
    """Returns how many messages were collected and why one was refused, if any was."""
    settings = job.settings
    with Pop3Session(server) as pop:
        listed = pop.uidls()
        seen = _collected(job, account_id)
        new = [(number, uidl) for number, uidl in listed if uidl not in seen]
        if job.dry_run:
            job.log("collect", server.label, f"{len(new)} new messages for {mailbox}")
            return 0, None
        fetched, refused = 0, None
        with Injector(settings.collect_smtp_host, settings.collect_smtp_port,
                      settings.collect_timeout) as smtp:
            for number, uidl in new:
                try:
                    smtp.inject(pop.retrieve(number), mailbox, server.label)
                except MessageRefused as reply:
                    # It stays on the server and is offered again next run.
                    refused = f"message {uidl} refused by the local server: {reply}"
                    job.log("collect-refused", server.label, refused)
                    continue
                _record(job, account_id, uidl)
                fetched += 1
                job.log("collect", server.label, f"message {uidl} into {mailbox}")
                if not leave:
                    pop.delete(number)
        if not leave:  # collected before, but that session never reached QUIT
            for number, uidl in listed:
                if uidl in seen:
                    pop.delete(number)
        _forget_gone(job, account_id, {uidl for _, uidl in listed})
        pop.quit()
    return fetched, refused


def _collected(job: JobRun, account_id: int) -> set[str]:
    with db.transaction(job.engine) as session:
        return set(session.scalars(select(CollectedMessage.uidl)
                                   .where(CollectedMessage.account_id == account_id)))


def _record(job: JobRun, account_id: int, uidl: str) -> None:
    with db.transaction(job.engine) as session:
        session.execute(insert(CollectedMessage).values(account_id=account_id, uidl=uidl)
                        .on_conflict_do_nothing())


def _forget_gone(job: JobRun, account_id: int, listed: set[str]) -> None:
    """UIDLs the server no longer lists can never come back: forget them."""
    with db.transaction(job.engine) as session:
        for row in session.scalars(select(CollectedMessage)
                                   .where(CollectedMessage.account_id == account_id)):
            if row.uidl not in listed:
                session.delete(row)


def _finish(job: JobRun, account_id: int, fetched: int, error: str | None, *,
            completed: bool) -> None:
    if job.dry_run:
        return
    with db.transaction(job.engine) as session:
        account = session.get(CollectAccount, account_id, with_for_update=True)
        account.last_run_at = job.now
        account.last_fetched = fetched
        account.last_error = error
        if completed:
            account.last_success_at = job.now
