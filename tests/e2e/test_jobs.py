"""The maintenance jobs against the real stack: PostgreSQL for the accounts, Dovecot
(through doveadm) for the mail, Postfix and the policy daemon for the refusals. Each job
runs as the timers run it: the `mailbasic` command in a process of its own."""

from __future__ import annotations

import imaplib
import smtplib
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbasic import db
from mailbasic.config import render_settings
from mailbasic.jobs.runner import lock_key
from tests.conftest import Cli

HOST = "127.0.0.1"
DOMAIN = "jobs.example"
PASSWORD = "a jobs test secret"
MAILBASIC = str(Path(sys.executable).parent / "mailbasic")


@pytest.fixture(scope="module")
def hosted(postfix, tmp_path_factory):
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    return postfix


@pytest.fixture(scope="module")
def config(hosted, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "mailbasic.toml"
    path.write_text(render_settings(hosted.settings))
    return path


def make_mailbox(stack, tmp_path, name: str) -> str:
    Cli(replace(stack.settings, bcrypt_cost=4), tmp_path).ok(
        "customer", "add", name, "--domain", DOMAIN, "--password-stdin", input=PASSWORD + "\n")
    return f"{name}@{DOMAIN}"


def job(config: Path, name: str, *arguments: str) -> subprocess.CompletedProcess:
    done = subprocess.run([MAILBASIC, "--config", str(config), "jobs", name, *arguments],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def append(stack, tls_context, user: str, folder: str, arrived: datetime, count: int = 1):
    with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=tls_context) as client:
        client.login(user, PASSWORD)
        for number in range(count):
            message = EmailMessage()
            message["From"], message["To"] = "someone@remote.example", user
            message["Subject"] = f"{folder} {number}"
            message.set_content("stored for the jobs test\n")
            client.append(folder, None, arrived, message.as_bytes())


def messages(stack, user: str, *query: str) -> int:
    found = stack.dovecot.doveadm("search", "-u", user, *(query or ("mailbox", "*", "all")))
    return len(found.splitlines())


def idle_since(stack, user: str, days: int) -> None:
    """As if the mailbox's last download (and creation) were `days` ago."""
    engine = db.make_engine(stack.settings)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "UPDATE mailboxes SET created_at = now() - make_interval(days => :days),"
                " last_imap_login_at = now() - make_interval(days => :days),"
                " last_pop3_login_at = NULL, reactivated_at = NULL"
                " WHERE id = (SELECT mailbox_id FROM addresses a JOIN domains d"
                "  ON d.id = a.domain_id WHERE a.local_part = :local AND d.name = :domain)"),
                {"days": days, "local": user.split("@")[0], "domain": DOMAIN})
    finally:
        engine.dispose()


def mailbox_row(stack, user: str) -> dict:
    engine = db.make_engine(stack.settings)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(text(
                "SELECT m.receiving_state::text AS state, m.deactivated_reason,"
                " m.mail_deleted_at FROM mailboxes m JOIN addresses a ON a.mailbox_id = m.id"
                " JOIN domains d ON d.id = a.domain_id"
                " WHERE a.local_part = :local AND d.name = :domain"),
                {"local": user.split("@")[0], "domain": DOMAIN}).mappings().one())
    finally:
        engine.dispose()


def rcpt_reply(stack, user: str) -> tuple[int, bytes]:
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=30) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        return client.rcpt(user)


def test_idle_mailbox_is_deactivated_then_emptied_then_reactivated(hosted, config, tls_context,
                                                                     tmp_path):
    stack = hosted
    idle = make_mailbox(stack, tmp_path, "idle.jobs")
    fresh = make_mailbox(stack, tmp_path, "fresh.jobs")
    append(stack, tls_context, idle, "INBOX", datetime.now(UTC), count=3)
    idle_since(stack, idle, 100)

    dry = job(config, "inactivity", "--dry-run")
    assert f"dry-run action=deactivate subject={idle}" in dry.stderr
    assert mailbox_row(stack, idle)["state"] == "active"

    done = job(config, "inactivity")
    assert f"action=deactivate subject={idle} reason=no download for 90 days" in done.stderr
    assert fresh not in done.stderr and "delete-mail" not in done.stderr
    assert mailbox_row(stack, idle)["state"] == "deactivated"
    code, reply = rcpt_reply(stack, idle)
    assert code == 550 and reply.startswith(b"5.2.1")
    assert messages(stack, idle) == 3  # deactivated, not emptied

    idle_since(stack, idle, 200)
    dry = job(config, "inactivity", "--dry-run")
    assert f"dry-run action=delete-mail subject={idle}" in dry.stderr
    assert messages(stack, idle) == 3
    done = job(config, "inactivity")
    assert (f"action=delete-mail subject={idle} reason=no download for 183 days: "
            "3 messages") in done.stderr
    assert messages(stack, idle) == 0
    assert mailbox_row(stack, idle)["mail_deleted_at"] is not None
    assert "delete-mail" not in job(config, "inactivity").stderr  # once per idle period

    Cli(stack.settings, tmp_path).ok("mailbox", "reactivate", idle)
    assert f"subject={idle}" not in job(config, "inactivity").stderr
    assert mailbox_row(stack, idle)["state"] == "active"


def mail_directory(stack, user: str) -> Path:
    home = stack.dovecot.doveadm("user", "-f", "home", user).strip()
    return Path(home)


def test_the_mail_of_a_deleted_customer_is_removed(hosted, config, tls_context, tmp_path):
    stack = hosted
    gone = make_mailbox(stack, tmp_path, "gone.jobs")
    kept = make_mailbox(stack, tmp_path, "kept.jobs")
    for user in (gone, kept):
        append(stack, tls_context, user, "INBOX", datetime.now(UTC))
    gone_home, kept_home = mail_directory(stack, gone), mail_directory(stack, kept)
    assert gone_home.parent == Path(stack.settings.mail_root) and gone_home.is_dir()
    stranger = Path(stack.settings.mail_root) / "not-a-mailbox"
    stranger.mkdir()
    Cli(replace(stack.settings, bcrypt_cost=4), tmp_path).ok("customer", "delete",
                                                             "gone.jobs", "--yes")

    dry = job(config, "orphaned-mail", "--dry-run")
    assert f"dry-run action=remove-mail subject={gone_home}" in dry.stderr
    assert gone_home.is_dir()
    done = job(config, "orphaned-mail")
    assert (f"action=remove-mail subject={gone_home} reason=mailbox {gone_home.name} "
            "no longer exists") in done.stderr
    assert not gone_home.exists()
    assert kept_home.is_dir() and messages(stack, kept) == 1 and stranger.is_dir()
    assert "remove-mail" not in job(config, "orphaned-mail").stderr


def test_old_spam_is_purged_recent_spam_and_inbox_stay(hosted, config, tls_context, tmp_path):
    stack = hosted
    user = make_mailbox(stack, tmp_path, "spammed")
    now = datetime.now(UTC)
    append(stack, tls_context, user, "Spam", now - timedelta(days=45), count=2)
    append(stack, tls_context, user, "Spam", now - timedelta(days=3))
    append(stack, tls_context, user, "INBOX", now - timedelta(days=400))

    dry = job(config, "spam-purge", "--dry-run")
    assert (f"dry-run action=expunge-spam subject={user} reason=2 messages in Spam older "
            "than 30 days") in dry.stderr
    assert messages(stack, user, "mailbox", "Spam", "all") == 3

    done = job(config, "spam-purge")
    assert f"action=expunge-spam subject={user}" in done.stderr
    assert messages(stack, user, "mailbox", "Spam", "all") == 1
    assert messages(stack, user, "mailbox", "INBOX", "all") == 1
    assert f"subject={user}" not in job(config, "spam-purge").stderr


def test_log_purge_applies_the_retention(hosted, config):
    stack = hosted
    engine = db.make_engine(stack.settings)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO rate_counters (login, hour, messages, recipients) VALUES"
                " ('old@jobs.example', date_trunc('hour', now()) - interval '3 days', 1, 1),"
                " ('new@jobs.example', date_trunc('hour', now()), 1, 1)"))
        done = job(config, "log-purge")
        assert "action=purge-rate-counters" in done.stderr
        with engine.connect() as connection:
            left = connection.execute(text(
                "SELECT login FROM rate_counters WHERE login LIKE '%@jobs.example'")).scalars()
            assert list(left) == ["new@jobs.example"]
    finally:
        engine.dispose()


def test_a_second_run_at_the_same_time_skips(hosted, config):
    stack = hosted
    """The lock: while one run holds it, another run of the same job skips."""
    engine = db.make_engine(stack.settings)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"),
                               {"key": lock_key("log-purge")})
            holding.set()
            release.wait(60)
            connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                               {"key": lock_key("log-purge")})

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        skipped = job(config, "log-purge")
        assert "action=skip reason=another run holds the lock" in skipped.stderr
        assert "action=done" not in skipped.stderr
    finally:
        release.set()
        holder.join()
        engine.dispose()
    assert "action=done" in job(config, "log-purge").stderr
