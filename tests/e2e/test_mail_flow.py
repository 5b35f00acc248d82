"""End to end through the real Postfix and Dovecot, accounts made with the CLI.

Submission with SMTP AUTH over STARTTLS, reading over IMAPS and POP3 with STARTTLS,
aliases, catch-all, unknown recipients, sender login protection and relay refusal.
"""

from __future__ import annotations

import email
import imaplib
import json
import poplib
import smtplib
import subprocess
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from mailbasic.passwords import hash_password
from tests.conftest import Cli

HOST = "127.0.0.1"
ALICE = ("alice@example.net", "alice's long secret")
BOBBY = ("bobby@example.net", "bobby's long secret")
DELIVERY_TIMEOUT = 30


@pytest.fixture(scope="module")
def accounts(postfix, tmp_path_factory):
    """Accounts in the stack's own database, which Postfix and Dovecot read."""
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", "example.net")
    cli.ok("domain", "add", "example.org")
    for address, password in (ALICE, BOBBY):
        cli.ok("customer", "add", address.split("@")[0], "--domain", "example.net",
               "--password-stdin", input=password + "\n")
    cli.ok("address", "add", "alice.smith@example.net", "--mailbox", ALICE[0])
    cli.ok("domain", "catch-all", "example.org", BOBBY[0])
    return postfix


def message(sender: str, recipient: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, recipient
    mail["Subject"] = f"test {uuid.uuid4()}"
    mail["Message-ID"] = f"<{uuid.uuid4()}@client.example>"
    mail.set_content("Hello from the end-to-end test.\n")
    return mail


def submit(stack, tls_context, login, mail: EmailMessage, envelope_sender=None):
    with smtplib.SMTP(HOST, stack.ports.submission, timeout=30) as client:
        client.starttls(context=tls_context)
        client.login(*login)
        client.send_message(mail, from_addr=envelope_sender)


def imap_subjects(stack, tls_context, login) -> list[str]:
    with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=tls_context) as client:
        client.login(*login)
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        subjects = []
        for number in data[0].split():
            _, parts = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(email.message_from_bytes(parts[0][1])["Subject"])
        return subjects


def pop3_subjects(stack, tls_context, login) -> list[str]:
    client = poplib.POP3(HOST, stack.ports.pop3, timeout=30)
    try:
        client.stls(context=tls_context)
        client.user(login[0])
        client.pass_(login[1])
        count, _ = client.stat()
        return [email.message_from_bytes(b"\r\n".join(client.top(number, 0)[1]))["Subject"]
                for number in range(1, count + 1)]
    finally:
        client.quit()


def eventually(read, expected: str) -> None:
    """Poll the mailbox until the message is there (delivery is asynchronous)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        if expected in read():
            return
        time.sleep(0.2)
    pytest.fail(f"{expected!r} did not arrive within {DELIVERY_TIMEOUT}s")


def test_dovecot_verifies_the_stored_hash():
    stored = hash_password(ALICE[1], cost=11)
    check = subprocess.run(["doveadm", "pw", "-t", stored, "-p", ALICE[1]],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "(verified)" in check.stdout
    wrong = subprocess.run(["doveadm", "pw", "-t", stored, "-p", "wrong password"],
                           capture_output=True, text=True)
    assert wrong.returncode != 0


def test_imap_login_checks_the_password(accounts, tls_context):
    assert imap_subjects(accounts, tls_context, ALICE) is not None
    with pytest.raises(imaplib.IMAP4.error):
        imap_subjects(accounts, tls_context, (ALICE[0], "wrong password"))


def test_submission_starttls_to_alias_read_over_imaps(accounts, tls_context):
    mail = message(ALICE[0], "alice.smith@example.net")
    submit(accounts, tls_context, ALICE, mail)
    eventually(lambda: imap_subjects(accounts, tls_context, ALICE), mail["Subject"])


def test_submission_read_over_pop3_starttls(accounts, tls_context):
    mail = message(ALICE[0], BOBBY[0])
    submit(accounts, tls_context, ALICE, mail)
    eventually(lambda: pop3_subjects(accounts, tls_context, BOBBY), mail["Subject"])


def test_submissions_port_with_implicit_tls(accounts, tls_context):
    mail = message(BOBBY[0], ALICE[0])
    with smtplib.SMTP_SSL(HOST, accounts.ports.smtps, context=tls_context,
                          timeout=30) as client:
        client.login(*BOBBY)
        client.send_message(mail)
    eventually(lambda: imap_subjects(accounts, tls_context, ALICE), mail["Subject"])


def test_submission_offers_auth_only_after_starttls(accounts, tls_context):
    with smtplib.SMTP(HOST, accounts.ports.submission, timeout=30) as client:
        client.ehlo("client.example")
        assert not client.has_extn("auth")
        client.starttls(context=tls_context)
        client.ehlo("client.example")
        assert client.has_extn("auth")


def test_mx_unknown_recipient_is_refused_at_rcpt(accounts):
    with smtplib.SMTP(HOST, accounts.ports.smtp, timeout=30) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        code, text = client.rcpt("nobody.here@example.net")
    assert code == 550 and text.startswith(b"5.1.1")


def test_mx_catch_all_domain_delivers_to_the_catch_all(accounts, tls_context):
    mail = message("someone@remote.example", "anything.at.all@example.org")
    with smtplib.SMTP(HOST, accounts.ports.smtp, timeout=30) as client:
        client.ehlo("mx.remote.example")
        client.send_message(mail)
    eventually(lambda: imap_subjects(accounts, tls_context, BOBBY), mail["Subject"])


def test_sending_as_another_customers_address_is_refused(accounts, tls_context):
    mail = message(BOBBY[0], ALICE[0])
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        submit(accounts, tls_context, ALICE, mail, envelope_sender=BOBBY[0])
    code, text = refused.value.recipients[ALICE[0]]
    assert code == 553 and text.startswith(b"5.7.1")


def test_relaying_without_auth_is_refused(accounts):
    with smtplib.SMTP(HOST, accounts.ports.smtp, timeout=30) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        code, text = client.rcpt("victim@elsewhere.example")
    assert code == 554 and b"Relay access denied" in text


def test_submission_without_auth_is_refused(accounts, tls_context):
    with smtplib.SMTP(HOST, accounts.ports.submission, timeout=30) as client:
        client.starttls(context=tls_context)
        client.ehlo("client.example")
        client.mail(ALICE[0])
        code, _ = client.rcpt(BOBBY[0])
    assert code >= 500


def test_imap_and_pop3_logins_are_recorded_on_the_mailbox(accounts, tls_context,
                                                         tmp_path):
    """Dovecot's last_login plugin reports each download, which the inactivity rules
    read from the mailbox; a delivery is not a download."""
    started = datetime.now(UTC).replace(microsecond=0)
    cli = Cli(accounts.settings, tmp_path)
    imap_subjects(accounts, tls_context, BOBBY)
    after_imap = json.loads(cli.ok("mailbox", "show", BOBBY[0], "--json").stdout)
    pop3_subjects(accounts, tls_context, BOBBY)
    after_pop3 = json.loads(cli.ok("mailbox", "show", BOBBY[0], "--json").stdout)
    imap_login = datetime.fromisoformat(after_imap["last_imap_login_at"])
    pop3_login = datetime.fromisoformat(after_pop3["last_pop3_login_at"])
    assert started <= imap_login <= pop3_login <= datetime.now(UTC)
    assert after_pop3["last_imap_login_at"] == after_imap["last_imap_login_at"]
