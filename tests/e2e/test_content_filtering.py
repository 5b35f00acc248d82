"""Real Postfix -> mailbasic milter -> real rspamd (the default spam engine) and clamd ->
Dovecot, read over IMAP. SpamAssassin's spamd through Postfix: test_spamassassin_flow.py."""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import re
import smtplib
import time
import uuid
from dataclasses import replace

import pytest

from tests.conftest import Cli
from tests.corpus import (
    GTUBE,
    encrypted_zip,
    evasions,
    mail,
    many_parts,
    nested,
    virus_attached,
    virus_in_attached_message,
    virus_only,
    virus_zipped,
    with_attachment,
)

HOST = "127.0.0.1"
CAROL = ("carol.filter@example.com", "carol's long secret")
DELIVERY_TIMEOUT = 30


@pytest.fixture(scope="module")
def mailbox(postfix, tmp_path_factory):
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", "example.com")
    cli.ok("customer", "add", "carol.filter", "--domain", "example.com", "--password-stdin",
           input=CAROL[1] + "\n")
    return postfix


def send_mx(stack, raw: bytes, recipient: str = CAROL[0]) -> None:
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.sendmail("someone@remote.example", [recipient], raw)


def fetch(stack, tls_context, subject: str) -> email.message.EmailMessage:
    """Wait until the message with this subject arrived at carol's, and return it."""
    return fetch_as(stack, tls_context, CAROL, subject)


def fetch_as(stack, tls_context, login: tuple[str, str],
             subject: str) -> email.message.EmailMessage:
    """Wait until a message whose subject contains `subject` is in login's INBOX."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=tls_context) as client:
            client.login(*login)
            client.select("INBOX", readonly=True)
            _, found = client.search("UTF-8", "SUBJECT", f'"{subject}"'.encode())
            if found[0]:
                _, parts = client.fetch(found[0].split()[-1], "(BODY.PEEK[])")
                return email.message_from_bytes(parts[0][1], policy=email.policy.default)
        time.sleep(0.2)
    pytest.fail(f"message {subject!r} did not arrive within {DELIVERY_TIMEOUT}s")


def unique(subject: str) -> str:
    return f"{subject} {uuid.uuid4().hex[:8]}"


def test_gtube_arrives_tagged_as_spam(mailbox, tls_context):
    subject = unique("cheap pills")
    raw = mail(subject, GTUBE, recipient=CAROL[0])
    raw["X-Spam-Flag"] = "NO"
    send_mx(mailbox, raw.as_bytes())
    arrived = fetch(mailbox, tls_context, subject)
    assert arrived.get_all("X-Spam-Flag") == ["YES"]
    assert "GTUBE" in arrived["X-Spam-Status"]
    assert arrived["X-Spam-Status"].startswith("Yes, score=")


def test_clean_mail_arrives_untouched_with_spam_headers(mailbox, tls_context):
    subject = unique("lunch")
    original = mail(subject, "Shall we meet at noon?\n", recipient=CAROL[0])
    send_mx(mailbox, original.as_bytes())
    arrived = fetch(mailbox, tls_context, subject)
    assert arrived["X-Spam-Flag"] is None
    assert arrived["X-Spam-Status"].startswith("No, score=")
    # Line endings become CRLF on the wire; the text itself is untouched.
    assert arrived.get_content().replace("\r\n", "\n").rstrip() == \
        original.get_content().rstrip()


@pytest.mark.parametrize("make, removed", [
    (virus_attached, '"invoice.exe"'),
    (virus_zipped, '"archive.zip"'),
    (virus_in_attached_message, '"invoice.exe"'),
])
def test_infected_attachment_is_removed_with_a_notice(mailbox, tls_context, make, removed):
    subject = unique(make.__name__)
    message = make(subject)
    del message["To"]
    message["To"] = CAROL[0]
    kept_text = message.get_payload()[0].as_bytes()
    send_mx(mailbox, message.as_bytes())
    arrived = fetch(mailbox, tls_context, subject)
    raw = arrived.as_bytes()
    assert b"X5O!P%@AP" not in raw and b"WDVPIVAlQEFQ" not in raw
    notices = [part.get_content() for part in arrived.walk()
               if "removed content infected by a virus" in str(part.get_payload(decode=True))]
    assert notices and removed in notices[0] and "Eicar-Test-Signature" in notices[0]
    # The part that was not removed arrives byte-identical.
    assert kept_text.replace(b"\r\n", b"\n") in raw.replace(b"\r\n", b"\n")


def test_a_message_that_is_only_a_virus_is_replaced_by_the_notice(mailbox, tls_context):
    subject = unique("only virus")
    send_mx(mailbox, virus_only(subject).replace(b"alice@example.net", CAROL[0].encode()))
    arrived = fetch(mailbox, tls_context, subject)
    assert arrived.get_content_type() == "text/plain"
    assert "removed content infected by a virus" in arrived.get_content()
    assert b"X5O!P%@AP" not in arrived.as_bytes()


@pytest.mark.parametrize("shape", sorted(evasions()))
def test_eicar_in_any_shape_a_client_decodes_is_removed(mailbox, tls_context, shape):
    subject = unique(shape)
    raw = evasions()[shape].replace(b"alice@example.net", CAROL[0].encode())
    send_mx(mailbox, re.sub(rb"^Subject: .*$", f"Subject: {subject}".encode(), raw,
                            count=1, flags=re.MULTILINE))
    arrived = fetch(mailbox, tls_context, subject)
    assert arrived["X-Mailbasic-Virus-Removed"].startswith("Eicar-Test-Signature"), shape
    assert "removed content infected by a virus" in arrived.as_string()


def refused_at_data(stack, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=120) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        client.rcpt(CAROL[0])
        return client.data(raw)


@pytest.mark.parametrize("make, why", [
    (lambda: nested(25), b"nested too deeply"),
    (lambda: many_parts(1200), b"too many MIME parts"),
    (lambda: with_attachment(mail("secret", recipient=CAROL[0]), encrypted_zip(),
                             "secret.zip", "zip").as_bytes(), b"encrypted archive"),
])
def test_what_will_never_scan_is_refused_for_good_saying_why(mailbox, make, why):
    """A 451 would make the sender retry for days a message that cannot ever pass."""
    code, text = refused_at_data(mailbox, make())
    assert code == 554 and text.startswith(b"5.7.1") and why in text, text


def test_message_over_the_size_limit_is_refused(mailbox):
    limit = mailbox.settings.message_size_limit
    big = mail("too big", "x", recipient=CAROL[0]).as_bytes() + b"y" * 76 + b"\r\n"
    big += (b"z" * 998 + b"\r\n") * (limit // 1000 + 100)
    with smtplib.SMTP(HOST, mailbox.ports.smtp, timeout=120) as client:
        client.ehlo("mx.remote.example")
        code, text = client.mail("someone@remote.example", [f"SIZE={len(big)}"])
        assert code == 552 and text.startswith(b"5.3.4")
        client.rset()
        client.mail("someone@remote.example")  # no SIZE=: counted while receiving
        client.rcpt(CAROL[0])
        code, text = client.data(big)
    assert code == 552 and text.startswith(b"5.3.4")


def test_a_message_just_under_the_limit_passes_intact(mailbox, tls_context):
    subject = unique("just under")
    head = mail(subject, "x", recipient=CAROL[0]).as_bytes()
    line = b"z" * 998 + b"\r\n"
    # Postfix counts the message as queued: its Received: header, envelope records, and
    # per line a record header of 3 bytes where the wire had CRLF (1 byte more).
    lines = (mailbox.settings.message_size_limit - len(head) - 8192) // (len(line) + 1)
    send_mx(mailbox, head + line * lines)
    arrived = fetch(mailbox, tls_context, subject)
    assert arrived.as_bytes().count(b"z" * 998) == lines


def test_the_transaction_is_logged_with_postfix_queue_id(mailbox, tls_context, tmp_path):
    subject = unique("logged")
    send_mx(mailbox, mail(subject, "Log me.\n", recipient=CAROL[0]).as_bytes())
    arrived = fetch(mailbox, tls_context, subject)
    received = " ".join(str(header) for header in arrived.get_all("Received"))
    queue_id = re.search(r"with ESMTP id (\w+)", received).group(1)
    cli = Cli(mailbox.settings, tmp_path)
    [entry] = json.loads(cli.ok("log", "search", "--queue-id", queue_id, "--json").stdout)
    assert entry["sender"] == "someone@remote.example"
    assert entry["recipients"] == [{"address": CAROL[0], "outcome": "accepted: into INBOX"}]
    assert entry["client"] == "localhost[127.0.0.1]" and entry["helo"] == "mx.remote.example"
    assert entry["reply"] == "250 accepted"
    assert entry["verdicts"]["virus"]["verdict"] == "clean"
    assert entry["verdicts"]["spam"]["verdict"] == "ham"
