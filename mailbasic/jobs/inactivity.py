"""Inactivity: a mailbox nobody has downloaded from (IMAP or POP3) nor logged in to by
webmail for deactivate_after_days stops receiving (the policy daemon refuses its mail;
`mailbasic mailbox reactivate` restores it); after delete_mail_after_days all its mail is
deleted; after delete_groupware_after_days without a webmail login its webmail contacts
and calendars are (mailbasic/jobs/idle_groupware.py). The rules run in the order of
RULES."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from mailbasic import accounts, db
from mailbasic.jobs.idle_groupware import delete_groupware_of_idle
from mailbasic.jobs.runner import JobRun
from mailbasic.schema import Mailbox, ReceivingState


def last_use() -> ColumnElement[datetime]:
    """Latest of the logins, creation and reactivation (GREATEST skips NULLs)."""
    return func.greatest(Mailbox.created_at, Mailbox.last_imap_login_at,
                         Mailbox.last_pop3_login_at, Mailbox.last_webmail_login_at,
                         Mailbox.reactivated_at)


def run(job: JobRun) -> None:
    for rule in RULES:
        rule(job)


def deactivate_idle(job: JobRun) -> None:
    days = job.settings.deactivate_after_days
    idle = (select(Mailbox).options(selectinload(Mailbox.addresses))
            .where(Mailbox.receiving_state == ReceivingState.ACTIVE,
                   last_use() < job.now - timedelta(days=days))
            .order_by(Mailbox.id))
    reason = f"no download for {days} days"
    with db.transaction(job.engine) as session:
        for mailbox in session.scalars(idle):
            job.log("deactivate", mailbox.name, reason)
            if not job.dry_run:
                accounts.deactivate(session, mailbox.name, reason)


def delete_mail_of_idle(job: JobRun) -> None:
    days = job.settings.delete_mail_after_days
    with db.transaction(job.engine) as session:
        names = [mailbox.name for mailbox in session.scalars(_due_for_deletion(job, days))]
    for name in names:
        messages = job.doveadm.count(name, "mailbox", "*", "all")
        job.log("delete-mail", name, f"no download for {days} days: {messages} messages")
        if not job.dry_run:
            job.doveadm.expunge(name, "mailbox", "*", "all")
            # Recorded after the deletion: a run that dies in between deletes again.
            with db.transaction(job.engine) as session:
                _record_deletion(session, name, job.now)


def _due_for_deletion(job: JobRun, days: int) -> Select[Mailbox]:
    return (select(Mailbox).options(selectinload(Mailbox.addresses))
            .where(last_use() < job.now - timedelta(days=days),
                   or_(Mailbox.mail_deleted_at.is_(None),
                       Mailbox.mail_deleted_at < last_use()))
            .order_by(Mailbox.id))


def _record_deletion(session: Session, name: str, when: datetime) -> None:
    accounts.get_mailbox(session, name, lock=True).mail_deleted_at = when


RULES: tuple[Callable[[JobRun], None], ...] = (
    deactivate_idle,
    delete_mail_of_idle,
    delete_groupware_of_idle,
)
