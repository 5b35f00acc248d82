"""SMS notifications end to end: mail through the real Postfix -> milter queues them in
the outbox, `mailbasic jobs sms` (a process) sends them to a stand-in HTTP gateway on
loopback; gateway errors, a timeout, the hourly limit, a fax arrival."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import uuid
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Cli
from tests.corpus import GTUBE
from tests.e2e.test_fax import fax_file
from tests.http_gateway import Gateway, running_gateway

HOST = "127.0.0.1"
DOMAIN = "sms.example"
MAILBASIC = str(Path(sys.executable).parent / "mailbasic")
PHONE = "+491701234567"


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    with running_gateway() as server:
        yield server


@pytest.fixture(scope="module")
def sms(postfix, gateway, tmp_path_factory):
    """Mailboxes with their SMS rules (set before any mail reaches them, so the milter's
    cache holds the rules), and a config that points the job at the gateway."""
    settings = replace(postfix.settings, bcrypt_cost=4, sms_gateway_url=gateway.url,
                       sms_username="provider", sms_password="gateway secret",
                       sms_timeout=1.0)
    directory = tmp_path_factory.mktemp("sms")
    cli = Cli(settings, directory)
    cli.ok("domain", "add", DOMAIN)
    for name, rules in (("paula.sms", [("--sender", "@boss.example"),
                                       ("--subject", "Urgent"), ("--high-priority",)]),
                        ("retry.sms", [("--subject", "call me")]),
                        ("limit.sms", [("--subject", "ping")]),
                        ("fax.sms", [("--fax",)]),
                        ("quiet.sms", [("--sender", "@boss.example")])):
        cli.ok("customer", "add", name, "--domain", DOMAIN, "--password-stdin",
               input="an sms secret\n")
        cli.ok("sms", "set", f"{name}@{DOMAIN}", "--phone", "+49 170 1234-567")
        for rule in rules:
            cli.ok("sms", "rule", "add", f"{name}@{DOMAIN}", *rule)
    cli.ok("sms", "set", f"quiet.sms@{DOMAIN}", "--disable")
    cli.ok("fax", "set", f"fax.sms@{DOMAIN}", "4930777")
    return cli


def send(stack, recipient: str, subject: str, sender: str = "someone@remote.example",
         body: str = "hello\n", **headers: str) -> None:
    message = EmailMessage()
    message["From"] = f"Sender Name <{sender}>"
    message["To"] = recipient
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.send_message(message, sender, [recipient])


def outbox(cli: Cli, mailbox: str) -> list[dict]:
    rows = json.loads(cli.ok("sms", "outbox", "--mailbox", f"{mailbox}@{DOMAIN}",
                             "--json").stdout)
    return sorted(rows, key=lambda row: row["id"])


def job(cli: Cli, *arguments: str) -> str:
    done = subprocess.run([MAILBASIC, "--config", str(cli.config), "jobs", "sms",
                           *arguments], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def make_due(stack, mailbox: str) -> None:
    """What waiting out the backoff would do."""
    engine = create_engine(stack.settings.database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "UPDATE sms_outbox SET next_attempt_at = now() - interval '1 second' "
            "WHERE state = 'pending' AND mailbox_id = (SELECT mailbox_id FROM addresses a "
            "JOIN domains d ON d.id = a.domain_id WHERE d.name = :domain "
            "AND a.local_part = :local)"), {"domain": DOMAIN, "local": mailbox})
    engine.dispose()


def test_matching_mail_is_sent_as_sender_and_subject(postfix, sms, gateway):
    subject = f"Quarterly numbers {uuid.uuid4().hex[:6]}"
    send(postfix, f"paula.sms@{DOMAIN}", "nothing to see", body="Urgent in the body only\n")
    send(postfix, f"paula.sms@{DOMAIN}", subject, sender="chief@boss.example",
         body="a body that never leaves\n")
    send(postfix, f"paula.sms@{DOMAIN}", "plain subject", X_Priority="1 (Highest)")
    send(postfix, f"paula.sms@{DOMAIN}", "this is urgent, please")
    queued = outbox(sms, "paula.sms")
    assert [row["reason"] for row in queued] == [
        "sender @boss.example", "high priority", "subject contains 'Urgent'"]
    assert all(row["state"] == "pending" and row["phone"] == PHONE for row in queued)

    log = job(sms, "--dry-run")
    assert log.count("job=sms dry-run action=send") == 3
    assert not gateway.requests

    requests_before = len(gateway.requests)
    log = job(sms)
    assert log.count("job=sms action=sent") == 3, log
    assert [row["state"] for row in outbox(sms, "paula.sms")] == ["sent"] * 3
    headers, body = gateway.requests[requests_before]
    assert json.loads(body) == {"to": PHONE, "text": f"From Sender Name: {subject}"}
    assert headers["Authorization"].startswith("Basic ")
    assert b"never leaves" not in b"".join(body for _, body in gateway.requests)


def test_no_sms_for_spam_or_a_disabled_mailbox(postfix, sms):
    send(postfix, f"paula.sms@{DOMAIN}", "from the boss, but spam", sender="x@boss.example",
         body=GTUBE + "\n")
    send(postfix, f"quiet.sms@{DOMAIN}", "boss mail", sender="x@boss.example")
    assert not [row for row in outbox(sms, "paula.sms") if "spam" in row["text"]]
    assert outbox(sms, "quiet.sms") == []


def test_gateway_error_and_timeout_are_retried_then_sent(postfix, sms, gateway):
    send(postfix, f"retry.sms@{DOMAIN}", "please call me back")
    gateway.answers.append((503, {}, 0.0))
    assert "action=retry" in job(sms)
    [row] = outbox(sms, "retry.sms")
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("HTTP 503")
    assert "action=sent" not in job(sms)  # not due before the backoff

    make_due(postfix, "retry.sms")
    gateway.answers.append((200, {}, 3.0))  # slower than sms.timeout
    assert "timed out after 1 s" in job(sms)
    [row] = outbox(sms, "retry.sms")
    assert (row["state"], row["attempts"]) == ("pending", 2)

    make_due(postfix, "retry.sms")
    assert "action=sent" in job(sms)
    [row] = outbox(sms, "retry.sms")
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 3, None)


def test_a_refusal_fails_at_once(postfix, sms, gateway):
    send(postfix, f"retry.sms@{DOMAIN}", "call me, refused")
    gateway.answers.append((400, {}, 0.0))
    assert "action=failed" in job(sms)
    row = outbox(sms, "retry.sms")[-1]
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("HTTP 400")


def test_at_most_ten_an_hour_per_mailbox(postfix, sms, gateway):
    for number in range(12):
        send(postfix, f"limit.sms@{DOMAIN}", f"ping {number}")
    requests_before = len(gateway.requests)
    log = job(sms)
    assert log.count("action=suppress") == 2, log
    states = [row["state"] for row in outbox(sms, "limit.sms")]
    assert states == ["sent"] * 10 + ["suppressed"] * 2
    assert len(gateway.requests) - requests_before == 10


def test_a_fax_arrival_is_notified(postfix, sms, gateway, tmp_path):
    done = subprocess.run([MAILBASIC, "--config", str(sms.config), "fax", "deliver",
                           "--number", "4930777", "--sender", "+49 89 555 0100",
                           str(fax_file(tmp_path, pages=1))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "SMS queued" in done.stdout
    [row] = outbox(sms, "fax.sms")
    assert (row["reason"], row["text"]) == ("fax", "From +49 89 555 0100: Fax from "
                                                   "+49 89 555 0100, 1 page")
    assert "action=sent" in job(sms)
