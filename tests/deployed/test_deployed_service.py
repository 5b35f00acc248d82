"""End to end against the deployed service on its real ports (25, 587, 465, 993, 995):
Postfix -> mailbasic milter and policy daemon -> spamd, clamd -> Dovecot, all started by
the Ansible roles. Nothing here uses the local stack."""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import poplib
import smtplib
import subprocess
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.corpus import GTUBE, mail, virus_attached
from tests.deployed.conftest import mailbasic

HOST = "127.0.0.1"
DELIVERY_TIMEOUT = 60


def unique(subject: str) -> str:
    return f"{subject} {uuid.uuid4().hex[:8]}"


def fetch_imaps(login, tls_context, subject: str) -> EmailMessage:
    """Wait until the message with this subject is in INBOX (port 993), and return it."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        with imaplib.IMAP4_SSL(HOST, 993, ssl_context=tls_context) as client:
            client.login(*login)
            client.select("INBOX", readonly=True)
            _, found = client.search("UTF-8", "SUBJECT", f'"{subject}"'.encode())
            if found[0]:
                _, parts = client.fetch(found[0].split()[-1], "(BODY.PEEK[])")
                return email.message_from_bytes(parts[0][1], policy=email.policy.default)
        time.sleep(0.3)
    pytest.fail(f"{subject!r} did not arrive within {DELIVERY_TIMEOUT}s")


def pop3s_subjects(login, tls_context) -> list[str]:
    client = poplib.POP3_SSL(HOST, 995, context=tls_context, timeout=30)
    try:
        client.user(login[0])
        client.pass_(login[1])
        count, _ = client.stat()
        return [email.message_from_bytes(b"\r\n".join(client.top(number, 0)[1]))["Subject"]
                for number in range(1, count + 1)]
    finally:
        client.quit()


def send_mx(sender: str, recipients: list[str], raw: bytes) -> None:
    with smtplib.SMTP(HOST, 25, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.sendmail(sender, recipients, raw)


def test_submission_with_auth_over_587_read_over_imaps(customer, tls_context):
    subject = unique("over 587")
    message = mail(subject, sender=customer.alice[0], recipient=customer.bobby[0])
    with smtplib.SMTP(HOST, 587, timeout=60) as client:
        client.starttls(context=tls_context)
        client.login(*customer.alice)
        client.send_message(message)
    arrived = fetch_imaps(customer.bobby, tls_context, subject)
    assert arrived["From"] == customer.alice[0]


def test_submission_with_implicit_tls_over_465_read_over_pop3s(customer, tls_context):
    subject = unique("over 465")
    message = mail(subject, sender=customer.bobby[0], recipient=customer.alice[0])
    with smtplib.SMTP_SSL(HOST, 465, context=tls_context, timeout=60) as client:
        client.login(*customer.bobby)
        client.send_message(message)
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while subject not in pop3s_subjects(customer.alice, tls_context):
        assert time.monotonic() < deadline, f"{subject!r} did not arrive over POP3S"
        time.sleep(0.3)


def test_submission_refuses_without_auth_and_without_tls(customer, tls_context):
    with smtplib.SMTP(HOST, 587, timeout=60) as client:
        client.ehlo("client.example")
        assert "auth" not in client.esmtp_features  # no AUTH before STARTTLS
        client.starttls(context=tls_context)
        client.ehlo("client.example")
        client.mail(customer.alice[0])
        code, _ = client.rcpt(customer.bobby[0])
    assert code == 554


def test_gtube_from_outside_is_tagged_as_spam(customer, tls_context):
    subject = unique("cheap pills")
    message = mail(subject, GTUBE, recipient=customer.alice[0])
    message["X-Spam-Flag"] = "NO"  # forged from outside: removed before scanning
    send_mx("someone@remote.example", [customer.alice[0]], message.as_bytes())
    arrived = fetch_imaps(customer.alice, tls_context, subject)
    assert arrived.get_all("X-Spam-Flag") == ["YES"]
    assert "GTUBE" in arrived["X-Spam-Status"]


def test_eicar_is_stripped_with_a_notice(customer, tls_context):
    subject = unique("invoice")
    message = virus_attached(subject)
    del message["To"]
    message["To"] = customer.alice[0]
    send_mx("someone@remote.example", [customer.alice[0]], message.as_bytes())
    arrived = fetch_imaps(customer.alice, tls_context, subject)
    assert b"X5O!P%@AP" not in arrived.as_bytes()
    notices = [part.get_content() for part in arrived.walk()
               if "removed content infected by a virus" in str(part.get_payload(decode=True))]
    assert notices and '"invoice.exe"' in notices[0] and "eicar" in notices[0].lower()
    # The transaction log in the deployed database names the signature.
    logged = json.loads(mailbasic("log", "search", "--address", customer.alice[0], "--json"))
    assert any("eicar" in json.dumps(entry).lower() for entry in logged)


def test_21_mb_is_refused(customer):
    big = mail("too big", "x", recipient=customer.alice[0]).as_bytes()
    big += (b"z" * 998 + b"\r\n") * 21_000
    with smtplib.SMTP(HOST, 25, timeout=120) as client:
        client.ehlo("mx.remote.example")
        code, text = client.mail("someone@remote.example", [f"SIZE={len(big)}"])
        assert code == 552 and text.startswith(b"5.3.4")
        client.rset()
        client.mail("someone@remote.example")  # no SIZE=: counted while receiving
        client.rcpt(customer.alice[0])
        code, text = client.data(big)
    assert code == 552 and text.startswith(b"5.3.4")


def test_unknown_recipient_is_refused(customer):
    with smtplib.SMTP(HOST, 25, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        code, text = client.rcpt(f"nobody@{customer.domain}")
    assert code == 550 and text.startswith(b"5.1.1")


def test_no_open_relay(customer):
    with smtplib.SMTP(HOST, 25, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        code, text = client.rcpt("victim@elsewhere.example")
    assert code == 554 and b"Relay access denied" in text


@pytest.mark.parametrize("job", ["backup", "collect", "inactivity", "spam-purge",
                                 "log-purge", "sms", "orphaned-mail"])
def test_the_scheduled_jobs_run_on_the_deployed_host(customer, job):
    """What the timers (cron here, systemd timers elsewhere) run, in a dry run."""
    log = Path("/var/log/mailbasic/jobs.log")
    before = log.stat().st_size if log.exists() else 0
    done = subprocess.run(["/usr/local/sbin/mailbasic-job", job, "--dry-run"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    written = log.read_text()[before:]
    assert f"job={job} dry-run action=done" in written, written


def recorded_delivery(recipient: str, since: str) -> dict:
    """Wait until `log search` shows the local delivery of a message to RECIPIENT that
    arrived after SINCE (recorded by the deployed `mailbasic delivery-log`)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        for entry in json.loads(mailbasic("log", "search", "--address", recipient,
                                          "--since", since, "--json")):
            sent = [attempt for attempt in entry["deliveries"]
                    if attempt["recipient"] == recipient and attempt["status"] == "sent"]
            if sent:
                return sent[0]
        time.sleep(0.5)
    pytest.fail(f"no delivery record for {recipient} within {DELIVERY_TIMEOUT}s")


def test_the_delivery_record_follows_postfix_log_through_a_rotation(customer, tls_context):
    log = Path("/var/log/postfix.log")
    status = log.stat()
    assert (status.st_uid, oct(status.st_mode & 0o777)) == (0, "0o640")
    since = datetime.now(UTC).isoformat()
    send_mx("someone@remote.example", [customer.bobby[0]],
            mail(unique("recorded"), recipient=customer.bobby[0]).as_bytes())
    attempt = recorded_delivery(customer.bobby[0], since)
    assert attempt["reply"].startswith(f"250 2.0.0 <{customer.bobby[0]}>")
    assert attempt["reply"].endswith("Saved")     # Dovecot's LMTP answer
    # logrotate as cron runs it daily, forced: the reader finishes the old file and
    # follows Postfix into the new one.
    subprocess.run(["logrotate", "--force", "/etc/logrotate.d/mailbasic-postfix-log"],
                   check=True, timeout=60)
    assert log.with_name("postfix.log.1").exists()
    since = datetime.now(UTC).isoformat()
    send_mx("someone@remote.example", [customer.alice[0]],
            mail(unique("recorded after rotation"), recipient=customer.alice[0]).as_bytes())
    recorded_delivery(customer.alice[0], since)
    assert log.stat().st_ino != status.st_ino
