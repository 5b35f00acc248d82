"""A leaked password that sends spam, end to end through the real Postfix, policy daemon,
milter, rspamd and Dovecot: a login that keeps tripping the rate limit, or sends GTUBE,
loses SMTP AUTH; its other mailbox receives the notice and an SMS is queued; `abuse list`
shows the incidents and `abuse resume` lets it send again. Normal authenticated mail
arrives without spam headers."""

from __future__ import annotations

import json
import smtplib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Cli
from tests.corpus import GTUBE, mail
from tests.e2e.test_content_filtering import fetch_as

HOST = "127.0.0.1"
DOMAIN = "leaky.example"
PASSWORD = "a leaky long secret"
# Each customer: the mailbox that sends, and the other one that is told.
PEOPLE = {"rita.rate": "rita.home", "gary.gtube": "gary.home", "nora.normal": "nora.home"}


def address(local_part: str) -> str:
    return f"{local_part}@{DOMAIN}"


@pytest.fixture(scope="module")
def leaky(postfix, tmp_path_factory) -> Iterator[Cli]:
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("abuse"))
    cli.ok("domain", "add", DOMAIN)
    for sender, home in PEOPLE.items():
        cli.ok("customer", "add", sender, "--domain", DOMAIN, "--password-stdin",
               input=PASSWORD + "\n")
        cli.ok("mailbox", "add", sender, address(home), "--password-stdin",
               input=PASSWORD + "\n")
    for sender in ("rita.rate", "gary.gtube"):
        cli.ok("sms", "set", address(sender), "--phone", "+49 170 7654321")
    yield cli
    # The stack's database is shared: the SMS these stops queued must not reach the next
    # tests' SMS job (deleting the customers deletes their outbox).
    for sender in PEOPLE:
        cli.ok("customer", "delete", sender, "--yes")


@contextmanager
def submission(stack, tls_context, login: str) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP(HOST, stack.ports.submission, timeout=60) as client:
        client.starttls(context=tls_context)
        client.login(login, PASSWORD)
        yield client


def trip_rate_limit(stack, tls_context, login: str, recipient: str) -> None:
    """One transaction that goes on until the policy refuses a recipient (once over the
    limit, the first RCPT of the hour is refused already)."""
    with submission(stack, tls_context, login) as client:
        client.mail(login)
        for _ in range(stack.settings.rate_recipients_per_hour + 1):
            code, reply = client.rcpt(recipient)
            if code == 450:
                assert b"rate limit" in reply
                return
    pytest.fail("the rate limit was not reached")


def send(stack, tls_context, login: str, recipient: str, subject: str,
         body: str = "Shall we meet at noon?\n") -> None:
    with submission(stack, tls_context, login) as client:
        client.send_message(mail(subject, body, sender=login, recipient=recipient))


def unique(subject: str) -> str:
    return f"{subject} {uuid.uuid4().hex[:8]}"


def stopped_and_told(stack, cli: Cli, tls_context, sender: str, kind: str) -> None:
    """What every stop looks like: no SMTP AUTH, the notice at the other mailbox, the SMS
    queued, three incidents listed with the newest one stopping submission."""
    login, home = address(sender), address(PEOPLE[sender])
    with pytest.raises(smtplib.SMTPAuthenticationError):
        with submission(stack, tls_context, login):
            pass
    notice = fetch_as(stack, tls_context, (home, PASSWORD),
                      f"Sending from {login} has been stopped")
    assert notice["From"] == f"Mail service <postmaster@{stack.settings.service_domain}>"
    assert "Ask our support to resume sending" in notice.get_content()
    [sms] = json.loads(cli.ok("sms", "outbox", "--mailbox", login, "--json").stdout)
    assert sms["reason"] == "sending suspended" and sms["state"] == "pending"
    assert sms["text"].startswith(f"Sending from {login} was stopped")
    listed = json.loads(cli.ok("abuse", "list", "--mailbox", login, "--json").stdout)
    assert [(row["kind"], row["suspended_submission"]) for row in listed] == [
        (kind, True), (kind, False), (kind, False)]
    assert all(row["client_address"] == HOST for row in listed)
    assert listed[0]["submission_suspended_now"]


def next_hour(stack, login: str) -> None:
    """What waiting for the next clock hour does to the login's rate counters."""
    engine = create_engine(stack.settings.database_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM rate_counters WHERE login = :login"),
                           {"login": login})
    engine.dispose()


def resumed_and_sending(stack, cli: Cli, tls_context, sender: str) -> None:
    login, home = address(sender), address(PEOPLE[sender])
    assert cli.ok("abuse", "resume", login).stdout == f"{login}: sending resumed\n"
    subject = unique("back again")
    send(stack, tls_context, login, home, subject)
    fetch_as(stack, tls_context, (home, PASSWORD), subject)


def test_a_login_that_keeps_tripping_the_rate_limit_is_stopped(leaky, postfix, tls_context):
    login = address("rita.rate")
    for _ in range(3):
        trip_rate_limit(postfix, tls_context, login, address("rita.home"))
    stopped_and_told(postfix, leaky, tls_context, "rita.rate", "rate_limit")
    next_hour(postfix, login)
    resumed_and_sending(postfix, leaky, tls_context, "rita.rate")


def test_a_login_that_sends_spam_is_refused_and_stopped(leaky, postfix, tls_context):
    login = address("gary.gtube")
    for _ in range(3):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(postfix, tls_context, login, address("gary.home"), unique("pills"), GTUBE)
        assert refused.value.smtp_code == 554
        assert refused.value.smtp_error.startswith(b"5.7.1 Message refused as spam")
    stopped_and_told(postfix, leaky, tls_context, "gary.gtube", "spam")
    resumed_and_sending(postfix, leaky, tls_context, "gary.gtube")


def test_normal_authenticated_mail_arrives_without_spam_headers(leaky, postfix, tls_context):
    login, home = address("nora.normal"), address("nora.home")
    subject = unique("lunch")
    send(postfix, tls_context, login, home, subject)
    arrived = fetch_as(postfix, tls_context, (home, PASSWORD), subject)
    assert not [name for name in arrived.keys() if name.lower().startswith("x-spam")]
    assert json.loads(leaky.ok("abuse", "list", "--mailbox", login, "--json").stdout) == []
