"""Idle groupware: the webmail's contacts and calendars (SOGo's address books and
calendars, with everything in them) of a mailbox whose webmail nobody has logged in to
for delete_groupware_after_days are deleted; its webmail preferences and signature stay.
The empty "personal" address book and calendar SOGo makes by itself do not count: once
deleted, the groupware is not deleted again until something is in it again.
Counted from the latest of the last webmail login, the creation and the reactivation.
Where SOGo's tables do not exist (a deployment without the webmail) nothing happens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from mailbasic import db
from mailbasic.jobs import groupware
from mailbasic.jobs.runner import JobRun
from mailbasic.schema import Mailbox
from mailbasic.schema.privileges import SOGO_SCHEMA


def last_webmail_use() -> ColumnElement[datetime]:
    """Latest of the webmail login, creation and reactivation (GREATEST skips NULLs)."""
    return func.greatest(Mailbox.created_at, Mailbox.last_webmail_login_at,
                         Mailbox.reactivated_at)


def delete_groupware_of_idle(job: JobRun) -> None:
    days = job.settings.delete_groupware_after_days
    before = job.now - timedelta(days=days)
    with db.transaction(job.engine) as session:
        tables = groupware.present(session)
        if not groupware.REQUIRED <= tables:
            job.note("skip-delete-groupware", SOGO_SCHEMA, "SOGo's tables do not exist")
            return
        owners = groupware.owners(session)
        idle = [mailbox.id for mailbox in session.scalars(
                    select(Mailbox).options(selectinload(Mailbox.addresses))
                    .where(last_webmail_use() < before).order_by(Mailbox.id))
                if mailbox.name.lower() in owners]
    for mailbox_id in idle:
        with db.transaction(job.engine) as session:
            # Locked and asked again: a webmail login since the selection keeps it all.
            mailbox = session.scalar(select(Mailbox).options(selectinload(Mailbox.addresses))
                                     .where(Mailbox.id == mailbox_id,
                                            last_webmail_use() < before)
                                     .with_for_update(of=Mailbox))
            if mailbox is None:
                continue
            login = mailbox.name.lower()
            if not groupware.holds_data(session, login):
                continue
            found = groupware.folders(session, login)
            job.log("delete-groupware", mailbox.name,
                    f"no webmail login for {days} days: {_contents(session, found)}")
            if not job.dry_run:
                groupware.delete_folders(session, login, found, tables)


def _contents(session: Session, found: tuple[groupware.Folder, ...]) -> str:
    books = sum(folder.type == "Contact" for folder in found)
    return (f"{books} address books, {len(found) - books} calendars, "
            f"{groupware.count_objects(session, found)} entries")
