"""The delivery record through the real stack: mail submitted to our Postfix goes out to
a scripted "remote MX" (aiosmtpd on loopback, reached through the stack's transport map),
and `mailbasic delivery-log`, reading Postfix's own log, stores each recipient's attempts
with the remote server's very words, the bounce it caused, and the SMTP sessions."""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailbasic.devstack.process import free_port
from tests.conftest import Cli

HOST = "127.0.0.1"
CARLA = ("carla@records.example", "carla's long secret")
REMOTE = "remote.example"
TIMEOUT = 60


class ScriptedMx:
    """Answers by local part: ok@ 250 with a queue id of its own, later@ 451 the first
    time and 250 after, never@ 550."""

    def __init__(self) -> None:
        self.tried: dict[str, int] = {}
        self.queued = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        local = address.split("@")[0]
        self.tried[local] = self.tried.get(local, 0) + 1
        if local.startswith("never"):
            return f"550 5.1.1 <{address}>: no such user here"
        if local.startswith("later") and self.tried[local] == 1:
            return f"451 4.7.1 <{address}>: greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.queued += 1
        return f"250 2.0.0 Ok: queued as REMOTE{self.queued:04d}"


@pytest.fixture(scope="module")
def remote_mx(delivery_log) -> Iterator[ScriptedMx]:
    handler = ScriptedMx()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    postfix = delivery_log.postfix
    postfix.transport_file.write_text(f"{REMOTE} smtp:[{HOST}]:{port}\n")
    postfix.postfix("reload")
    yield handler
    postfix.transport_file.write_text("")
    postfix.postfix("reload")
    controller.stop()


@pytest.fixture(scope="module")
def cli(delivery_log, tmp_path_factory) -> Cli:
    cli = Cli(replace(delivery_log.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", "records.example")
    cli.ok("customer", "add", "carla", "--domain", "records.example", "--password-stdin",
           input=CARLA[1] + "\n")
    return cli


def submit(stack, tls_context, recipients: list[str]) -> str:
    mail = EmailMessage()
    mail["From"], mail["To"] = CARLA[0], ", ".join(recipients)
    mail["Subject"] = f"record {uuid.uuid4()}"
    mail["Message-ID"] = f"<{uuid.uuid4()}@client.example>"
    mail.set_content("Where did it go?\n")
    with smtplib.SMTP(HOST, stack.ports.submission, timeout=30) as client:
        client.starttls(context=tls_context)
        client.login(*CARLA)
        client.send_message(mail)
    return mail["Subject"]


def story(cli: Cli, **options: str) -> list[dict]:
    arguments = ["log", "search", "--json"]
    for name, value in options.items():
        arguments += [f"--{name.replace('_', '-')}", value]
    return json.loads(cli.ok(*arguments).stdout)


def wait_for(what, check, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_each_recipient_carries_the_remote_replies_in_order(delivery_log, remote_mx, cli,
                                                           tls_context):
    ok, later, never = (f"{name}-{uuid.uuid4().hex[:8]}@{REMOTE}"
                        for name in ("ok", "later", "never"))
    submit(delivery_log, tls_context, [ok, later, never])

    def first_attempts():
        found = [entry for entry in story(cli, address=CARLA[0])
                 if {ok, later, never} <= {r["address"] for r in entry["recipients"]}]
        return found if found and len(found[0]["deliveries"]) >= 3 else None
    message = wait_for("the first attempts", first_attempts)[0]
    # The deferred one is tried again at once, not after Postfix's backoff.
    subprocess.run(["postqueue", "-c", str(delivery_log.postfix.config_directory), "-f"],
                   check=True)

    def final():
        entry = story(cli, queue_id=message["queue_id"])[0]
        later_attempts = [a for a in entry["deliveries"] if a["recipient"] == later]
        bounced = [c for c in entry["caused"] if c["kind"] == "non-delivery notification"]
        # The milter writes its connection records (the HELO) a second later, in batches.
        helo = entry["session"] and entry["session"]["helo"]
        return entry if len(later_attempts) == 2 and bounced and bounced[0]["deliveries"] \
            and helo else None
    entry = wait_for("the retry and the bounce", final)
    replies = {}
    for attempt in entry["deliveries"]:
        replies.setdefault(attempt["recipient"], []).append(
            (attempt["status"], attempt["dsn"], attempt["reply"]))
    relay_reply = f"host {HOST}[{HOST}] said: "
    accepted = re.compile(r"^250 2\.0\.0 Ok: queued as REMOTE\d{4}$")
    assert [(status, dsn) for status, dsn, _ in replies[ok]] == [("sent", "2.0.0")]
    assert accepted.match(replies[ok][0][2])
    assert [(status, dsn) for status, dsn, _ in replies[later]] == [
        ("deferred", "4.7.1"), ("sent", "2.0.0")]
    assert replies[later][0][2].startswith(
        f"{relay_reply}451 4.7.1 <{later}>: greylisted, try again later")
    assert accepted.match(replies[later][1][2])
    assert replies[later][1][2] != replies[ok][0][2]  # the second transaction's own id
    assert [(status, dsn) for status, dsn, _ in replies[never]] == [("bounced", "5.1.1")]
    assert replies[never][0][2].startswith(f"{relay_reply}550 5.1.1 <{never}>: no such user")
    # The bounce is a message of its own, linked and followed into Carla's mailbox.
    bounce = next(c for c in entry["caused"] if c["kind"] == "non-delivery notification")
    assert [(a["recipient"], a["status"]) for a in bounce["deliveries"]] == [
        (CARLA[0], "sent")]
    # And the session it came in: submission, TLS, Carla's login.
    session = entry["session"]
    assert session["service"] == "postfix/submission/smtpd"
    assert session["auth_user"] == CARLA[0] and session["tls"].startswith("TLS")
    assert session["helo"] == "[127.0.0.1]"  # smtplib's EHLO name, from the milter
    text = cli.ok("log", "search", "--queue-id", message["queue_id"]).stdout
    assert "caused non-delivery notification" in text and "REMOTE" in text


def test_a_failed_login_is_listed_by_client(delivery_log, remote_mx, cli, tls_context):
    tried = f"nobody-{uuid.uuid4().hex[:6]}@records.example"
    with smtplib.SMTP(HOST, delivery_log.ports.submission, timeout=30) as client:
        client.starttls(context=tls_context)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(tried, "a wrong password")

    def listed():
        rows = json.loads(cli.ok("log", "search", "--auth-failures", "--since", "1h",
                                 "--json").stdout)
        return [row for row in rows if tried in row["usernames"]]
    row = wait_for("the failed login", listed)[0]
    assert row["client_address"] == HOST and row["failures"] >= 1

    def ended():
        sessions = json.loads(cli.ok("log", "sessions", "--since", "10m",
                                     "--without-transaction", "--json").stdout)
        return [session for session in sessions if session["end"] and any(
            failure["username"] == tried for failure in session["auth_failures"])]
    [session] = wait_for("the session's end", ended)
    assert session["tls"].startswith("TLS") and session["end"] == "disconnect"
    # smtplib tries each mechanism the server offers: every AUTH failed.
    assert re.match(r"^ehlo=2 starttls=1 auth=0/\d ", session["commands"])


def test_a_vacation_reply_is_linked_to_the_message_it_answers(delivery_log, remote_mx, cli):
    today = time.strftime("%Y-%m-%d")
    cli.ok("rules", "vacation", CARLA[0], "--from", today, "--until", today,
           "--subject", "Away", "--text", "Back on Monday.")
    sender = f"asker-{uuid.uuid4().hex[:8]}@{REMOTE}"
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, CARLA[0], "A question"
    mail["Message-ID"] = f"<{uuid.uuid4()}@{REMOTE}>"
    mail.set_content("Are you there?\n")
    with smtplib.SMTP(HOST, delivery_log.ports.smtp, timeout=30) as client:
        client.send_message(mail)

    def answered():
        entries = story(cli, address=sender)
        replies = [caused for entry in entries for caused in entry["caused"]
                   if caused["kind"] == "vacation reply" and caused["deliveries"]]
        return (entries[0], replies[0]) if replies else None
    entry, reply = wait_for("the vacation reply's delivery", answered)
    assert [(a["recipient"], a["status"]) for a in entry["deliveries"]] == [
        (CARLA[0], "sent")]
    assert [(a["recipient"], a["status"]) for a in reply["deliveries"]] == [(sender, "sent")]
    assert reply["deliveries"][0]["reply"].startswith("250 2.0.0 Ok: queued as REMOTE")
    cli.ok("rules", "vacation", CARLA[0], "--off")


def test_a_reader_restart_mid_burst_and_a_log_rotation_lose_and_double_nothing(
        delivery_log, remote_mx, cli, tls_context):
    """The reader is stopped while mail flows, started again, then the log is rotated as
    logrotate does it (moved, `postfix reload` makes postlogd open a new file): every
    message still has exactly one delivery record, the remote server's 250."""
    stack, recipients = delivery_log, []

    def burst(count: int) -> None:
        for _ in range(count):
            recipients.append(f"ok-{uuid.uuid4().hex[:10]}@{REMOTE}")
            submit(stack, tls_context, [recipients[-1]])

    burst(10)
    stack.delivery_log.stop()
    burst(10)                          # written while nobody reads
    stack.delivery_log.launch()
    burst(5)
    log = stack.postfix.logfile
    log.rename(log.with_name(log.name + ".1"))
    stack.postfix.postfix("reload")
    burst(10)                          # into the new file

    def recorded():
        by_recipient: dict[str, list] = {}
        for entry in story(cli, address=CARLA[0], limit="500"):
            for attempt in entry["deliveries"]:
                by_recipient.setdefault(attempt["recipient"], []).append(attempt)
        return by_recipient if all(r in by_recipient for r in recipients) else None
    by_recipient = wait_for("every delivery", recorded)
    time.sleep(2 * stack.settings.delivery_log_poll_seconds + 1)  # any double would be in
    by_recipient = recorded()
    assert by_recipient is not None
    for recipient in recipients:
        assert [(a["status"], a["reply"][:26]) for a in by_recipient[recipient]] == [
            ("sent", "250 2.0.0 Ok: queued as RE")], recipient
