"""Orphaned mail: the mail directory of a mailbox that no longer exists (its customer
was deleted) is removed, so the disk does not keep what nobody can read any more.

Dovecot keeps a mailbox's mail under mail_root/ID (its home). Mailbox ids come from a
sequence and are never reused, so a directory whose id the sequence has handed out but
no mailbox holds belongs to nobody, and never will; doveadm cannot reach it (the user
is gone), so it is removed as a directory. Names that are not ids, and ids the sequence
has not reached yet, are left alone."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select, text

from mailbasic import db
from mailbasic.jobs.runner import JobRun
from mailbasic.schema import Mailbox


def run(job: JobRun) -> None:
    root = Path(job.settings.mail_root)
    if not root.is_dir():
        return
    with db.transaction(job.engine) as session:
        # Read first: a mailbox created after this has an id above `issued`.
        issued = session.execute(text(
            "SELECT last_value, is_called FROM mailboxes_id_seq")).one()
        existing = set(session.scalars(select(Mailbox.id)))
    highest = issued.last_value if issued.is_called else 0
    for directory in sorted(root.iterdir(), key=lambda path: path.name):
        if not (directory.name.isdigit() and directory.is_dir()):
            continue
        number = int(directory.name)
        if number <= highest and number not in existing:
            job.log("remove-mail", str(directory), f"mailbox {number} no longer exists")
            if not job.dry_run:
                shutil.rmtree(directory)
