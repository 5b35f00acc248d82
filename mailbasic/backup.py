"""Backups: the account database (pg_dump) and every mailbox (doveadm backup, a
consistent copy), one directory per run, rotated; restored with pg_restore into an empty
database and with doveadm import, which adds mail and never deletes any.

Layout of one backup, BACKUP_DIR/20261125T031500Z/:
  accounts.dump       pg_dump --format=custom of the account database
  mail/USER/Maildir   each mailbox as of the backup (USER: the login)
  manifest.json       when, the schema revision, the mailboxes and their message counts
A run writes into NAME.partial and renames it when complete: a backup that exists is whole.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from mailbasic.doveadm import Doveadm
from mailbasic.errors import MailbasicError, NotFound

MANIFEST = "manifest.json"
DUMP = "accounts.dump"
PARTIAL = ".partial"


class BackupError(MailbasicError):
    """A tool the backup needs failed; nothing was rotated away."""


@dataclass(frozen=True)
class Database:
    """pg_dump and pg_restore's view of the database URL."""

    url: str

    def environment(self) -> dict[str, str]:
        url = make_url(self.url)
        return {**os.environ, "PGHOST": url.host or "", "PGPORT": str(url.port or 5432),
                "PGUSER": url.username or "", "PGPASSWORD": url.password or "",
                "PGDATABASE": url.database or ""}

    def run(self, *command: str) -> str:
        try:
            done = subprocess.run(command, env=self.environment(), capture_output=True,
                                  text=True, timeout=3600, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise BackupError(f"{command[0]}: {error}") from None
        if done.returncode != 0:
            raise BackupError(f"{command[0]}: {_last_line(done.stderr, done.returncode)}")
        return done.stdout


def _last_line(stderr: str, code: int) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {code}"


def backup_name(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def complete_backups(directory: Path) -> list[Path]:
    """Complete backups, oldest first (their names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir()
                  if path.is_dir() and not path.name.endswith(PARTIAL)
                  and (path / MANIFEST).is_file())


def find_backup(directory: Path, name: str | None) -> Path:
    backups = complete_backups(directory)
    if not backups:
        raise NotFound(f"no complete backup in {directory}")
    if name is None:
        return backups[-1]
    for backup in backups:
        if backup.name == name:
            return backup
    raise NotFound(f"no complete backup named {name} in {directory}")


def dump_database(database: Database, target: Path) -> None:
    database.run("pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                 f"--file={target}")


def copy_mailbox(doveadm: Doveadm, user: str, target: Path) -> int:
    """A consistent copy of the mailbox (doveadm backup locks it while it copies);
    returns its message count as Dovecot sees it."""
    doveadm.run("backup", "-u", user, f"maildir:{target}/Maildir")
    return doveadm.count(user, "mailbox", "*", "all")


def prepare_mail_directory(doveadm: Doveadm, users: list[str], directory: Path) -> None:
    """doveadm writes as the mail user: the directory must be theirs."""
    directory.mkdir(parents=True)
    if users:
        owner = [_user_or_id(doveadm.run("user", "-f", field, users[0]))
                 for field in ("uid", "gid")]
        shutil.chown(directory, *owner)
    directory.chmod(0o700)


def _user_or_id(value: str) -> str | int:
    value = value.strip()
    return int(value) if value.isdigit() else value


def write_manifest(directory: Path, manifest: dict) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def read_manifest(backup: Path) -> dict:
    try:
        return json.loads((backup / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{backup}: unreadable manifest: {error}") from None


def remove(path: Path) -> None:
    shutil.rmtree(path)


def database_is_empty(database: Database) -> bool:
    tables = database.run("psql", "--no-psqlrc", "--tuples-only", "--no-align", "--command",
                          "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    return tables.strip() == "0"


def restore_database(database: Database, backup: Path) -> None:
    """Into an empty database only: a restore never overwrites accounts that exist."""
    if not database_is_empty(database):
        raise BackupError("the account database is not empty; restore the accounts into an "
                          "empty one (drop and recreate it) or restore single mailboxes")
    name = make_url(database.url).database or ""
    database.run("pg_restore", "--no-owner", "--no-privileges", "--no-comments",
                 "--single-transaction", "--exit-on-error", f"--dbname={name}",
                 str(backup / DUMP))


def restore_mailbox(doveadm: Doveadm, backup: Path, user: str) -> int:
    """Adds the backup's messages to the mailbox (folders created as needed); deletes
    nothing, so mail that arrived since the backup stays. Returns the backup's count."""
    source = backup / "mail" / user / "Maildir"
    if not source.is_dir():
        raise NotFound(f"backup {backup.name} has no mailbox {user}")
    doveadm.run("import", "-u", user, "-s", f"maildir:{source}", "", "all")
    return read_manifest(backup)["mailboxes"].get(user, 0)
