"""rspamd, the default spam engine, end to end: mail sent to the stack's real Postfix on
port 25, through the milter (which asks the stack's real rspamd), delivered by Dovecot and
read back over IMAPS, or answered 451 at the end of DATA while rspamd is down.
(SpamAssassin through Postfix, spam.engine = "spamassassin": test_spamassassin_flow.py.)"""

from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import json
import re
import smtplib
import uuid
from dataclasses import replace
from email.message import EmailMessage

import pytest

from tests import delivered
from tests.conftest import Cli
from tests.corpus import GTUBE, mail

HOST = "127.0.0.1"
PASSWORD = "the spam flow's long secret"
SENDER = "someone@remote.example"
DOMAIN = "rspamd-flow.example"
# Mailboxes by spam action (rules spam --action) and by threshold (--threshold, filing).
TAGGED, FILED, DELETED, STRICT, LENIENT = (
    f"{name}.rflow@{DOMAIN}" for name in ("tag", "file", "delete", "strict", "lenient"))
# What rspamd answers for GTUBE: its reject score and the one symbol.
GTUBE_STATUS = "Yes, score=15.0 required=5.0 tests=GTUBE"
# Around what rspamd scores the plain message of filed_by_threshold: 1.9 (its To: is not
# the envelope's recipient, FORGED_RECIPIENTS; FROM_NO_DN, TO_DN_NONE, ...).
THRESHOLDS = (1.0, 3.0)


def mailboxes(stack, tmp_path_factory, tagged: str, filed: str, deleted: str, strict: str,
              lenient: str, thresholds: tuple[float, float]) -> Cli:
    """The mailboxes' domain, one mailbox per spam action, and two that file spam from
    thresholds of their own (THRESHOLDS: the strict one's and the lenient one's)."""
    cli = Cli(replace(stack.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", tagged.partition("@")[2])
    for address in (tagged, filed, deleted, strict, lenient):
        local, _, domain = address.partition("@")
        cli.ok("customer", "add", local, "--domain", domain, "--password-stdin",
               input=PASSWORD + "\n")
    cli.ok("rules", "spam", filed, "--on", "--action", "folder")
    cli.ok("rules", "spam", deleted, "--on", "--action", "delete")
    cli.ok("rules", "spam", strict, "--on", "--action", "folder",
           "--threshold", str(thresholds[0]))
    cli.ok("rules", "spam", lenient, "--on", "--action", "folder",
           "--threshold", str(thresholds[1]))
    return cli


@pytest.fixture(scope="module")
def cli(postfix, rspamd, tmp_path_factory) -> Cli:
    return mailboxes(postfix, tmp_path_factory, TAGGED, FILED, DELETED, STRICT, LENIENT,
                     THRESHOLDS)


def unique(subject: str) -> str:
    return f"{subject} {uuid.uuid4().hex[:8]}"


def ham(subject: str, recipient: str) -> bytes:
    """A plain personal message, with every header a mail program writes."""
    message = EmailMessage()
    message["From"] = f"Someone Else <{SENDER}>"
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = f"<{uuid.uuid4().hex}@remote.example>"
    message.set_content("Hi,\n\nare we still on for lunch on Thursday? The new place near "
                        "the station opens at noon.\nI can book a table for two.\n\n"
                        "Regards\n")
    return message.as_bytes(policy=email.policy.SMTP)


def send(stack, raw: bytes, *recipients: str) -> None:
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=120) as client:
        client.ehlo("mx.remote.example")
        client.sendmail(SENDER, list(recipients), raw)


def found(stack, tls_context, login: str, folder: str,
          subject: str) -> email.message.EmailMessage | None:
    return delivered.newest(stack.ports.imaps, tls_context, login, PASSWORD, folder, subject)


def arrives(stack, tls_context, login: str, subject: str,
            folder: str = "INBOX") -> email.message.EmailMessage:
    return delivered.arrives(stack.ports.imaps, tls_context, login, PASSWORD, folder, subject)


def count(stack, tls_context, login: str, subject: str, folder: str = "INBOX") -> int:
    with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=tls_context) as client:
        client.login(login, PASSWORD)
        client.select(f'"{folder}"', readonly=True)
        _, numbers = client.search("UTF-8", "SUBJECT", f'"{subject}"'.encode())
        return len(numbers[0].split())


def status_tests(message: email.message.EmailMessage) -> list[str]:
    """The test names of X-Spam-Status, in their order: the header unfolded as RFC 5322
    says (the line breaks go, the whitespace after them stays), split at the commas."""
    status = str(message["X-Spam-Status"])
    return [name.strip() for name in status.rpartition("tests=")[2].split(",")]


def logged(cli: Cli, address: str) -> list[dict]:
    """The transaction log's entries naming ADDRESS, newest first."""
    return json.loads(cli.ok("log", "search", "--address", address, "--json").stdout)


def gtube_per_spam_action(stack, cli: Cli, tls_context, tagged: str, filed: str,
                          deleted: str) -> tuple[email.message.EmailMessage, dict]:
    """GTUBE to three mailboxes in one transaction: tagged in the first's INBOX, in the
    second's Spam folder, nowhere for the third. The tagged copy and the log entry."""
    subject = unique("cheap pills")
    raw = mail(subject, GTUBE)
    raw["X-Spam-Flag"] = "NO"       # from outside: removed, never trusted
    raw["X-Spam-Status"] = "No, score=-100.0"
    send(stack, raw.as_bytes(), tagged, filed, deleted)
    copy = arrives(stack, tls_context, tagged, subject)
    assert copy.get_all("X-Spam-Flag") == ["YES"]
    assert len(copy.get_all("X-Spam-Status")) == 1
    filed_copy = arrives(stack, tls_context, filed, subject, folder="Spam")
    assert filed_copy["X-Spam-Status"] == copy["X-Spam-Status"]
    assert found(stack, tls_context, filed, "INBOX", subject) is None
    [entry] = logged(cli, deleted)
    assert {r["address"]: r["outcome"] for r in entry["recipients"]} == {
        tagged: "accepted: into INBOX", filed: "accepted: into Spam",
        deleted: "accepted: discarded"}
    assert entry["verdicts"]["spam"]["verdict"] == "spam"
    for folder in ("INBOX", "Spam"):
        assert found(stack, tls_context, deleted, folder, subject) is None
    return copy, entry


def filed_by_threshold(stack, tls_context, strict: str, lenient: str,
                       thresholds: tuple[float, float]) -> email.message.EmailMessage:
    """A plain message that the engine scores between the two mailboxes' thresholds:
    spam for the strict one (filed), mail for the lenient one (INBOX), and below
    X-Spam-Flag's 5.0 for both."""
    subject = unique("in between")
    send(stack, mail(subject, "Shall we meet at noon?\n").as_bytes(), strict, lenient)
    copy = arrives(stack, tls_context, lenient, subject)
    score = float(copy["X-Spam-Score"])
    assert thresholds[0] <= score < thresholds[1], copy["X-Spam-Status"]
    assert copy["X-Spam-Flag"] is None
    filed = arrives(stack, tls_context, strict, subject, folder="Spam")
    assert filed["X-Spam-Score"] == copy["X-Spam-Score"] and filed["X-Spam-Flag"] is None
    assert found(stack, tls_context, strict, "INBOX", subject) is None
    return copy


def tempfailed_while_down(stack, cli: Cli, tls_context, engine, recipient: str) -> None:
    """With ENGINE (the stack's server object) stopped, the end of DATA gets 451 and
    nothing is delivered; the client's retry, once the engine is back, arrives once."""
    subject = unique(f"while {engine.name} was down")
    raw = ham(subject, recipient)
    engine.stop()
    try:
        with smtplib.SMTP(HOST, stack.ports.smtp, timeout=120) as client:
            client.ehlo("mx.remote.example")
            client.mail(SENDER)
            assert client.rcpt(recipient)[0] == 250
            code, text = client.data(raw)
        assert (code, text) == (451, b"4.7.1 Spam filter unavailable, please try again later")
        entry = logged(cli, recipient)[0]
        assert entry["reply"].startswith("451 4.7.1"), entry
        assert entry["verdicts"]["spam"]["verdict"] == "tempfail", entry
    finally:
        engine.launch()
        engine.wait_ready()
    assert count(stack, tls_context, recipient, subject) == 0
    send(stack, raw, recipient)     # the sending MTA's retry
    arrived = arrives(stack, tls_context, recipient, subject)
    assert arrived["X-Spam-Status"].startswith("No, score="), arrived["X-Spam-Status"]
    assert "lunch on Thursday" in arrived.get_content()
    assert count(stack, tls_context, recipient, subject) == 1


def test_gtube_is_tagged_filed_or_deleted_per_mailbox_with_rspamds_headers(
        postfix, cli, tls_context):
    tagged, entry = gtube_per_spam_action(postfix, cli, tls_context, TAGGED, FILED, DELETED)
    assert tagged["X-Spam-Status"] == GTUBE_STATUS
    assert (tagged["X-Spam-Score"], tagged["X-Spam-Level"]) == ("15.0", "*" * 15)
    assert entry["verdicts"]["spam"]["reason"] == "score 15.0/5.0"


def test_ham_arrives_with_rspamds_symbols_in_the_spam_headers(postfix, cli, tls_context):
    subject = unique("lunch")
    send(postfix, ham(subject, TAGGED), TAGGED)
    arrived = arrives(postfix, tls_context, TAGGED, subject)
    assert arrived["X-Spam-Flag"] is None
    score = float(arrived["X-Spam-Score"])
    assert score < 1.0, arrived["X-Spam-Status"]
    status = " ".join(str(arrived["X-Spam-Status"]).split())
    assert status.startswith(f"No, score={score:.1f} required=5.0 tests="), status
    tests = status_tests(arrived)
    # rspamd's symbol names, sorted.
    assert tests == sorted(tests) and all(re.fullmatch(r"[A-Z0-9_]+", test) for test in tests)
    assert {"MIME_GOOD", "RCPT_COUNT_ONE"} <= set(tests), tests
    assert arrived["X-Spam-Level"] == "*" * max(int(score), 0)


def test_each_mailbox_files_spam_from_its_own_threshold(postfix, cli, tls_context):
    copy = filed_by_threshold(postfix, tls_context, STRICT, LENIENT, THRESHOLDS)
    assert "FORGED_RECIPIENTS" in status_tests(copy), copy["X-Spam-Status"]


def test_rspamd_down_is_451_at_end_of_data_and_the_retry_arrives(postfix, cli, tls_context):
    tempfailed_while_down(postfix, cli, tls_context, postfix.rspamd, TAGGED)
