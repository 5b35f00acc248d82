"""Backups: the account database (pg_dump) and every mailbox (doveadm backup, a
consistent copy), one directory per run, rotated; restored with pg_restore into an empty
database and with doveadm import of the messages a mailbox does not hold: restoring adds
what is missing and never deletes, and never doubles what is there.

Layout of one backup, BACKUP_DIR/20261125T031500Z/:
  accounts.dump       pg_dump --format=custom of the account database
  mail/USER/Maildir   each mailbox as of the backup (USER: the login)
  manifest.json       when, the schema revision, the mailboxes and their message counts
A run writes into NAME.partial and renames it when complete: a backup that exists is whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from mailbasic.doveadm import Doveadm
from mailbasic.errors import MailbasicError, NotFound
from mailbasic.schema.privileges import SOGO_SCHEMA

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


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def read_manifest(backup: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((backup / MANIFEST).read_text())
        return manifest
    except (OSError, ValueError) as error:
        raise BackupError(f"{backup}: unreadable manifest: {error}") from None


def remove(path: Path) -> None:
    shutil.rmtree(path)


def database_is_empty(database: Database) -> bool:
    """No table in mailbasic's schema nor in the webmail's (SOGo's)."""
    tables = database.run("psql", "--no-psqlrc", "--tuples-only", "--no-align", "--command",
                          "SELECT count(*) FROM pg_tables WHERE schemaname IN"
                          f" ('public', '{SOGO_SCHEMA}')")
    return tables.strip() == "0"


def restore_database(database: Database, backup: Path) -> None:
    """Into an empty database only: a restore never overwrites accounts that exist."""
    if not database_is_empty(database):
        raise BackupError("the account database is not empty; restore the accounts into an "
                          "empty one (drop and recreate it) or restore single mailboxes")
    name = make_url(database.url).database or ""
    # An empty webmail schema (`db upgrade` makes one) would stop the restore, which
    # creates it; the restore makes it the admin's, and `db upgrade` after the restore
    # gives it back to SOGo's role (privileges.grant).
    database.run("psql", "--no-psqlrc", "--command",
                 f'DROP SCHEMA IF EXISTS "{SOGO_SCHEMA}" RESTRICT')
    database.run("pg_restore", "--no-owner", "--no-privileges", "--no-comments",
                 "--single-transaction", "--exit-on-error", f"--dbname={name}",
                 str(backup / DUMP))


def restore_mailbox(doveadm: Doveadm, backup: Path, user: str) -> tuple[int, int]:
    """Adds the backup's messages the mailbox does not hold (folders created as needed)
    and deletes nothing: mail that arrived since the backup stays, and a message still
    there (in any folder: the customer may have moved it) is not added again, so each
    is there once however often a backup is restored. Returns (added, already there)."""
    source = f"maildir:{backup / 'mail' / user / 'Maildir'}"
    if not (backup / "mail" / user / "Maildir").is_dir():
        raise NotFound(f"backup {backup.name} has no mailbox {user}")
    present = Counter(_fingerprint(message) for message in doveadm.fetch_each(
        user, "hdr.message-id text", "mailbox", "*", "all"))
    if not present:  # nothing to compare with: everything, in one import
        doveadm.run("import", "-u", user, "-s", source, "", "all")
        return read_manifest(backup)["mailboxes"].get(user, 0), 0
    missing, already = _missing(doveadm, user, source, present)
    for folder, uids in missing.items():
        for uid_set in _uid_sets(uids):
            doveadm.run("import", "-u", user, "-s", source, "", "mailbox-guid", folder,
                        "uid", uid_set)
    return sum(len(uids) for uids in missing.values()), already


def _fingerprint(message: dict[str, str]) -> tuple[str, bytes]:
    """Message-ID and a hash of the whole text: the same message, not one that merely
    shares a Message-ID (some senders reuse them)."""
    text = message["text"].encode("utf-8", "surrogatepass")
    return message["hdr.message-id"], hashlib.sha256(text).digest()


def _missing(doveadm: Doveadm, user: str, source: str,
             present: Counter) -> tuple[dict[str, list[int]], int]:
    """The backup's messages the mailbox lacks, as UIDs per folder GUID of the backup,
    and how many it holds already. Counted, so a message the backup holds twice and the
    mailbox once is added once."""
    missing: dict[str, list[int]] = defaultdict(list)
    already = 0
    # The backup read as if it were the user's mail; without plugins, so Dovecot's quota
    # bookkeeping never sees it.
    for message in doveadm.fetch_each(user, "mailbox-guid uid hdr.message-id text",
                                      "mailbox", "*", "all",
                                      overrides=(f"mail_location={source}", "mail_plugins=")):
        fingerprint = _fingerprint(message)
        if present[fingerprint] > 0:
            present[fingerprint] -= 1
            already += 1
        else:
            missing[message["mailbox-guid"]].append(int(message["uid"]))
    return missing, already


def _uid_sets(uids: list[int], ranges_per_set: int = 1000) -> list[str]:
    """IMAP sequence sets (1:4,7) of at most `ranges_per_set` ranges: one argument of
    doveadm's command line each, well below the kernel's limit for one argument."""
    ranges: list[list[int]] = []
    for uid in sorted(uids):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    texts = [f"{low}:{high}" if high > low else str(low) for low, high in ranges]
    return [",".join(texts[start:start + ranges_per_set])
            for start in range(0, len(texts), ranges_per_set)]
