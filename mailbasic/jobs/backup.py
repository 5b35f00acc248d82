"""Backup: the account database and every mailbox into a new directory under
backup.directory, then all but the newest backup.keep complete backups removed."""

from __future__ import annotations

from pathlib import Path

from mailbasic import backup, db
from mailbasic.config import require_database_url
from mailbasic.jobs.runner import JobRun


def run(job: JobRun) -> None:
    directory = Path(job.settings.backup_directory)
    name = backup.backup_name(job.now)
    users = job.doveadm.users()
    if job.dry_run:
        job.log("backup", name, f"the database and {len(users)} mailboxes into {directory}")
    else:
        write_backup(job, directory, name, users)
    rotate(job, directory)


def write_backup(job: JobRun, directory: Path, name: str, users: list[str]) -> None:
    # Passable, not readable, for the mail user, who writes mail/ below; the dump (with
    # the password hashes) is root's alone.
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o711)
    partial = directory / (name + backup.PARTIAL)
    partial.mkdir(mode=0o711)
    backup.dump_database(backup.Database(require_database_url(job.settings)), partial / backup.DUMP)
    (partial / backup.DUMP).chmod(0o600)
    job.log("dump-database", name, backup.DUMP)
    backup.prepare_mail_directory(job.doveadm, users, partial / "mail")
    counts = {}
    for user in users:
        counts[user] = backup.copy_mailbox(job.doveadm, user, partial / "mail" / user)
        job.log("backup-mailbox", user, f"{counts[user]} messages")
    backup.write_manifest(partial, {"created": job.now.isoformat(), "mailboxes": counts,
                                    "revision": db.current_revision(job.settings)})
    partial.rename(directory / name)
    job.log("backup", name, f"complete: the database and {len(users)} mailboxes")


def rotate(job: JobRun, directory: Path) -> None:
    keep = job.settings.backup_keep
    complete = backup.backup_name(job.now)
    # Under the job's lock no other run is writing: a .partial here is a run that died.
    stale = [path for path in directory.glob("*" + backup.PARTIAL)] if directory.is_dir() \
        else []
    backups = backup.complete_backups(directory)
    if job.dry_run:
        backups.append(directory / complete)  # the one this run would have written
    for old in sorted(stale) + backups[:-keep]:
        job.log("remove-backup", old.name, f"keeping the newest {keep} complete backups")
        if not job.dry_run:
            backup.remove(old)
