"""The policy daemon's refusals as an SMTP client sees them through the real Postfix."""

from __future__ import annotations

import smtplib
import time
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Cli

HOST = "127.0.0.1"
PASSWORD = "a long secret"


@pytest.fixture(scope="module")
def accounts(postfix, tmp_path_factory):
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", "example.info")
    for name in ("dave.inactive", "erin.small", "frank.rate"):
        cli.ok("customer", "add", name, "--domain", "example.info", "--password-stdin",
               input=PASSWORD + "\n")
    cli.ok("mailbox", "deactivate", "dave.inactive@example.info")
    cli.ok("mailbox", "quota", "erin.small@example.info", "20K")
    return postfix


def rcpt(stack, recipient: str, size: int | None = None) -> tuple[int, bytes]:
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=30) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example", [f"SIZE={size}"] if size else [])
        return client.rcpt(recipient)


def test_inactive_mailbox_is_refused_with_the_configured_text(accounts):
    code, text = rcpt(accounts, "dave.inactive@example.info")
    assert code == 550 and text.startswith(b"5.2.1")
    assert accounts.settings.inactive_text.encode() in text


def test_unknown_recipient_is_refused_by_the_policy(accounts):
    code, text = rcpt(accounts, "nobody.at.all@example.info")
    assert (code, text) == (550, b"5.1.1 <nobody.at.all@example.info>: Recipient address "
                                 b"rejected: No such mailbox here")


def wait_for_usage(stack, login: str, messages: int) -> None:
    """Delivery is asynchronous: wait until Dovecot has counted the message."""
    engine = create_engine(stack.settings.database_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                counted = connection.execute(text(
                    "SELECT messages FROM quota_usage WHERE username = :login"),
                    {"login": login}).scalar()
            if counted == messages:
                return
            time.sleep(0.1)
        pytest.fail(f"Dovecot did not count message {messages} within 30 s")
    finally:
        engine.dispose()


def test_a_full_mailbox_is_refused_after_real_deliveries(accounts):
    """Fill a 20 KiB mailbox over LMTP for real; Dovecot writes its usage to PostgreSQL;
    the policy refuses at RCPT (announced size) and at end of data (counted size)."""
    body = b"Subject: filler\r\nFrom: someone@remote.example\r\n\r\n" + b"f" * 7000 + b"\r\n"
    delivered, refusal = 0, None
    for _ in range(6):
        try:
            with smtplib.SMTP(HOST, accounts.ports.smtp, timeout=30) as client:
                client.sendmail("someone@remote.example", ["erin.small@example.info"], body)
            delivered += 1
            wait_for_usage(accounts, "erin.small@example.info", messages=delivered)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
            refusal = error
            break
    assert delivered >= 2 and refusal is not None
    code, text = rcpt(accounts, "erin.small@example.info", size=len(body))
    assert code == 552 and text.startswith(b"5.2.2") and b"Mailbox full" in text


def test_an_authenticated_sender_over_its_rate_is_deferred(accounts, tls_context):
    limit = accounts.settings.rate_recipients_per_hour
    recipients = ["frank.rate@example.info"] * (limit + 1)
    with smtplib.SMTP(HOST, accounts.ports.submission, timeout=30) as client:
        client.starttls(context=tls_context)
        client.login("dave.inactive@example.info", PASSWORD)
        client.mail("dave.inactive@example.info")
        answers = [client.rcpt(recipient) for recipient in recipients]
    assert all(code == 250 for code, _ in answers[:limit])
    code, text = answers[limit]
    assert code == 450 and text.startswith(b"4.7.1") and b"rate limit" in text
