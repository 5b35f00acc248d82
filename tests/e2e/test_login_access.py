"""Suspension and per-protocol access through the real Dovecot and Postfix: a suspended
mailbox still receives mail but no login works (IMAP, POP3, SMTP AUTH), its open sessions
are closed, each protocol can be denied alone, and no cached login outlives a change
(Dovecot's auth cache is flushed), nor does an old password after a new one. The portal's
side is tests/integration/test_suspension_api_portal.py."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import time
import uuid
from dataclasses import replace
from email.message import EmailMessage

import pytest

from tests.conftest import Cli

HOST = "127.0.0.1"
PASSWORD = "a long mailbox secret"
DELIVERY_TIMEOUT = 30


@pytest.fixture
def login(postfix, tmp_path) -> tuple[Cli, str]:
    """A mailbox of its own in the stack's database (which Postfix and Dovecot read)."""
    tag = uuid.uuid4().hex[:8]
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path)
    cli.ok("domain", "add", f"access{tag}.example")
    cli.ok("customer", "add", f"holder{tag}", "--domain", f"access{tag}.example",
           "--password-stdin", input=PASSWORD + "\n")
    return cli, f"holder{tag}@access{tag}.example"


def imap_login(stack, context: ssl.SSLContext, user: str, password: str = PASSWORD) -> str:
    """"OK", or Dovecot's refusal as the client sees it."""
    with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=context) as client:
        try:
            client.login(user, password)
        except imaplib.IMAP4.error as error:
            return str(error)
        return "OK"


def pop3_login(stack, context: ssl.SSLContext, user: str, password: str = PASSWORD) -> str:
    client = poplib.POP3_SSL(HOST, stack.ports.pop3s, context=context, timeout=30)
    try:
        client.user(user)
        client.pass_(password)
        return "OK"
    except poplib.error_proto as error:
        return str(error)
    finally:
        client.close()


def smtp_login(stack, context: ssl.SSLContext, user: str, password: str = PASSWORD) -> str:
    with smtplib.SMTP(HOST, stack.ports.submission, timeout=30) as client:
        client.starttls(context=context)
        try:
            client.login(user, password)
        except smtplib.SMTPAuthenticationError as error:
            return f"{error.smtp_code} {error.smtp_error.decode()}"
        return "OK"


def deliver(stack, recipient: str) -> str:
    subject = f"still arrives {uuid.uuid4().hex[:8]}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "x@remote.example", recipient, subject
    message.set_content("Hello\n")
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=30) as client:
        client.send_message(message)
    return subject


def stored(stack, user: str, subject: str) -> bool:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        if stack.dovecot.doveadm("search", "-u", user, "mailbox", "INBOX", "subject",
                                 subject).strip():
            return True
        time.sleep(0.2)
    return False


def test_a_suspended_mailbox_receives_but_no_login_works(postfix, login, tls_context):
    cli, user = login
    # Logged in (and cached by Dovecot) before: the suspension must still bite at once.
    assert imap_login(postfix, tls_context, user) == "OK"
    session = imaplib.IMAP4_SSL(HOST, postfix.ports.imaps, ssl_context=tls_context)
    session.login(user, PASSWORD)
    session.select("INBOX")
    sending = smtplib.SMTP(HOST, postfix.ports.submission, timeout=30)
    sending.starttls(context=tls_context)
    sending.login(user, PASSWORD)
    assert "suspended" in cli.ok("mailbox", "suspend", user, "--reason", "unpaid").stdout
    # The SMTP session authenticated before sends nothing more (the policy daemon).
    with sending, pytest.raises(smtplib.SMTPRecipientsRefused) as refusal:
        sending.sendmail(user, ["someone@remote.example"], b"Subject: x\r\n\r\nx\r\n")
    code, text = refusal.value.recipients["someone@remote.example"]
    assert code == 554 and b"the mailbox is suspended" in text
    refused = imap_login(postfix, tls_context, user)
    assert "suspended" in refused, refused          # the owner is told why
    assert pop3_login(postfix, tls_context, user) != "OK"
    assert smtp_login(postfix, tls_context, user).startswith("535")
    try:
        with pytest.raises((imaplib.IMAP4.abort, OSError)):  # its open session was closed
            for _ in range(50):
                session.noop()
                time.sleep(0.1)
    finally:
        session.shutdown()
    assert stored(postfix, user, deliver(postfix, user))  # mail still arrives
    shown = cli.ok("mailbox", "show", user).stdout
    assert "logins     suspended since" in shown and "unpaid" in shown
    cli.refused(9, "mailbox", "suspend", user)
    cli.ok("mailbox", "resume", user)
    assert imap_login(postfix, tls_context, user) == "OK"
    assert smtp_login(postfix, tls_context, user) == "OK"
    cli.refused(9, "mailbox", "resume", user)


def test_each_protocol_can_be_denied_alone(postfix, login, tls_context):
    cli, user = login
    assert pop3_login(postfix, tls_context, user) == "OK"
    assert cli.ok("mailbox", "access", user, "--pop3", "off").stdout.split() == [
        "imap", "on", "pop3", "off", "smtp", "on", "webmail", "on"]
    refused = pop3_login(postfix, tls_context, user)
    assert "may not log in with pop3" in refused, refused
    assert imap_login(postfix, tls_context, user) == "OK"
    cli.ok("mailbox", "access", user, "--pop3", "on", "--smtp", "off")
    assert pop3_login(postfix, tls_context, user) == "OK"
    assert smtp_login(postfix, tls_context, user).startswith("535")
    assert cli.ok("mailbox", "access", user, "--json").stdout.count("false") == 1
    assert cli("mailbox", "access", user, "--imap", "maybe").exit_code == 2


def test_an_old_password_stops_working_at_once_after_a_change(postfix, login, tls_context):
    cli, user = login
    assert imap_login(postfix, tls_context, user) == "OK"    # now in Dovecot's cache
    # The cache holds the password that worked, for that password only.
    assert imap_login(postfix, tls_context, user, "not the password") != "OK"
    assert imap_login(postfix, tls_context, user) == "OK"
    cli.ok("mailbox", "passwd", user, "--password-stdin", input="a brand new secret\n")
    assert imap_login(postfix, tls_context, user) != "OK"
    assert imap_login(postfix, tls_context, user, "a brand new secret") == "OK"
