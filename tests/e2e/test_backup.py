"""Backup and restore against the real stack: back up, destroy the account database and
every mailbox on disk, restore into the emptied stack, and find every account and every
message again (by Message-ID and content hash, folder by folder)."""

from __future__ import annotations

import hashlib
import json
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbasic import db
from mailbasic.config import render_settings
from mailbasic.schema.privileges import SOGO_SCHEMA
from tests.conftest import Cli

HOST = "127.0.0.1"
DOMAIN = "backup.example"
MAILBASIC = str(Path(sys.executable).parent / "mailbasic")


def run(config: Path, *arguments: str) -> subprocess.CompletedProcess:
    done = subprocess.run([MAILBASIC, "--config", str(config), *arguments],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def all_mail(stack) -> dict[str, set[tuple[str, str, str]]]:
    """Every user's messages as (folder, Message-ID, sha256 of the whole text)."""
    mail = {}
    for user in stack.dovecot.doveadm("user", "*").split():
        fetched = json.loads(stack.dovecot.doveadm(
            "-f", "json", "fetch", "-u", user, "mailbox hdr.message-id text",
            "mailbox", "*", "all"))
        mail[user] = {(entry["mailbox"], entry["hdr.message-id"],
                       hashlib.sha256(entry["text"].encode()).hexdigest())
                      for entry in fetched}
    return mail


def accounts(stack) -> list[tuple]:
    engine = db.make_engine(stack.settings)
    try:
        with engine.connect() as connection:
            return sorted(tuple(row) for row in connection.execute(text(
                "SELECT c.name, m.slot, m.password_hash, m.quota_bytes, a.local_part::text,"
                " d.name::text, a.is_primary FROM customers c"
                " JOIN mailboxes m ON m.customer_id = c.id"
                " JOIN addresses a ON a.mailbox_id = m.id JOIN domains d ON d.id = a.domain_id")))
    finally:
        engine.dispose()


def destroy(stack) -> None:
    """The account database emptied (its schemas gone: mailbasic's and the webmail's),
    every mailbox gone from disk."""
    engine = db.make_engine(stack.settings)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{SOGO_SCHEMA}" CASCADE'))
    finally:
        engine.dispose()
    for home in Path(stack.settings.mail_root).iterdir():
        shutil.rmtree(home)


def webmail_schema_owner(stack) -> str:
    engine = db.make_engine(stack.settings)
    try:
        with engine.connect() as connection:
            owner: str = connection.scalar(text(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = :name"),
                {"name": SOGO_SCHEMA})
            return owner
    finally:
        engine.dispose()


def deliver(stack, recipient: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@remote.example", recipient, subject
    message["Message-ID"] = f"<{subject.replace(' ', '.')}@remote.example>"
    message.set_content(f"{subject}: the text\n")
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=60) as client:
        client.send_message(message)


@pytest.fixture
def backups():
    """Outside pytest's temporary directory, which the mail user may not pass."""
    directory = Path(tempfile.mkdtemp(prefix="mailbasic-backups-"))
    directory.chmod(0o711)
    yield directory / "backups"
    shutil.rmtree(directory)


def test_backup_destroy_restore_finds_every_account_and_message(postfix, tmp_path, backups):
    settings = replace(postfix.settings, bcrypt_cost=4, backup_directory=str(backups),
                       backup_keep=2)
    config = tmp_path / "mailbasic.toml"
    config.write_text(render_settings(settings))
    cli = Cli(settings, tmp_path)
    cli.ok("domain", "add", DOMAIN)
    cli.ok("customer", "add", "owner.backup", "--domain", DOMAIN, "--password-stdin",
           input="a backup secret\n")
    cli.ok("mailbox", "add", "owner.backup", f"second.backup@{DOMAIN}", "--password-stdin",
           input="another backup secret\n")
    cli.ok("rules", "filter", "add", f"second.backup@{DOMAIN}", "--if",
           "subject contains invoice", "--fileinto", "Rechnungen 2026")
    for number in range(3):
        deliver(postfix, f"owner.backup@{DOMAIN}", f"hello {number}")
    deliver(postfix, f"second.backup@{DOMAIN}", "invoice 7")
    deadline = time.monotonic() + 60
    while sum(len(found) for user, found in all_mail(postfix).items()
              if user.endswith(DOMAIN)) < 4:
        assert time.monotonic() < deadline, "the test mail did not arrive"
        time.sleep(0.3)

    accounts_before, mail_before = accounts(postfix), all_mail(postfix)
    assert ("Rechnungen 2026", "<invoice.7@remote.example>") in {
        entry[:2] for entry in mail_before[f"second.backup@{DOMAIN}"]}
    for _ in range(3):  # rotation keeps the newest two
        run(config, "jobs", "backup")
        time.sleep(1.1)  # backups are named by the second
    listed = json.loads(run(config, "backup", "list", "--json").stdout)
    assert len(listed) == 2 and listed[-1]["mailboxes"] == len(mail_before)

    destroy(postfix)
    assert not any(Path(postfix.settings.mail_root).iterdir())
    restored = run(config, "backup", "restore")
    assert "restored the account database" in restored.stdout
    assert accounts(postfix) == accounts_before
    assert all_mail(postfix) == mail_before
    assert webmail_schema_owner(postfix) == SOGO_SCHEMA   # SOGo may write its tables again


def test_restore_refuses_a_database_that_is_not_empty(postfix, tmp_path, backups):
    settings = replace(postfix.settings, backup_directory=str(backups))
    config = tmp_path / "mailbasic.toml"
    config.write_text(render_settings(settings))
    run(config, "jobs", "backup")
    refused = subprocess.run([MAILBASIC, "--config", str(config), "backup", "restore"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "the account database is not empty" in refused.stderr


def test_one_mailbox_is_restored_without_losing_newer_mail(postfix, tmp_path, backups):
    settings = replace(postfix.settings, bcrypt_cost=4, backup_directory=str(backups))
    config = tmp_path / "mailbasic.toml"
    config.write_text(render_settings(settings))
    user = f"single.backup@{DOMAIN}"
    Cli(settings, tmp_path).ok("customer", "add", "single.backup", "--domain", DOMAIN,
                               "--password-stdin", input="a single secret\n")
    deliver(postfix, user, "kept 1")
    deadline = time.monotonic() + 60
    while len(all_mail(postfix).get(user, ())) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    run(config, "jobs", "backup")
    postfix.dovecot.doveadm("expunge", "-u", user, "mailbox", "*", "all")
    deliver(postfix, user, "arrived later")
    while len(all_mail(postfix).get(user, ())) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    run(config, "backup", "restore", "--mailbox", user)
    ids = {entry[1] for entry in all_mail(postfix)[user]}
    assert ids == {"<kept.1@remote.example>", "<arrived.later@remote.example>"}


def fingerprints(stack, user: str) -> list[tuple[str, str]]:
    """Each message of the user as (Message-ID, sha256 of the text), duplicates kept."""
    fetched = json.loads(stack.dovecot.doveadm(
        "-f", "json", "fetch", "-u", user, "hdr.message-id text", "mailbox", "*", "all"))
    return sorted((entry["hdr.message-id"], hashlib.sha256(entry["text"].encode()).hexdigest())
                  for entry in fetched)


def test_restoring_a_mailbox_that_still_holds_its_mail_doubles_nothing(
        postfix, tmp_path, backups):
    settings = replace(postfix.settings, bcrypt_cost=4, backup_directory=str(backups))
    config = tmp_path / "mailbasic.toml"
    config.write_text(render_settings(settings))
    user = f"twice.backup@{DOMAIN}"
    Cli(settings, tmp_path).ok("customer", "add", "twice.backup", "--domain", DOMAIN,
                               "--password-stdin", input="a twice secret\n")
    for number in range(3):
        deliver(postfix, user, f"once {number}")
    deadline = time.monotonic() + 60
    while len(fingerprints(postfix, user)) < 3:
        assert time.monotonic() < deadline, "the test mail did not arrive"
        time.sleep(0.3)
    before = fingerprints(postfix, user)
    run(config, "jobs", "backup")

    restored = run(config, "backup", "restore", "--mailbox", user)
    assert "restored 0 messages" in restored.stdout and "3 were there already" in restored.stdout
    assert fingerprints(postfix, user) == before  # each exactly once

    postfix.dovecot.doveadm("expunge", "-u", user, "mailbox", "INBOX", "header",
                            "message-id", "<once.1@remote.example>")
    assert len(fingerprints(postfix, user)) == 2
    restored = run(config, "backup", "restore", "--mailbox", user)
    assert "restored 1 messages" in restored.stdout
    assert fingerprints(postfix, user) == before  # it came back, once
    run(config, "backup", "restore", "--mailbox", user)
    assert fingerprints(postfix, user) == before
