"""Per-mailbox rules through the real Postfix -> milter -> Dovecot, read over IMAP:
folders (with spaces and umlauts), spam actions and sender lists, forwarding, vacation,
and several outcomes for the recipients of one SMTP transaction."""

from __future__ import annotations

import email
import email.policy
import imaplib
import smtplib
import time
import uuid
from dataclasses import replace

import pytest

from mailbasic.devstack.process import run
from mailbasic.srs import Srs, srs_domain
from tests.conftest import Cli
from tests.corpus import GTUBE, mail

HOST = "127.0.0.1"
DOMAIN = "rules.example"
PASSWORD = "a long rules secret"
PEOPLE = ("dora.rules", "emil.rules", "fritz.rules", "greta.rules", "hanna.rules",
          "ida.rules", "jonas.rules", "karl.rules", "lena.rules")
DELIVERY_TIMEOUT = 30


def address(name: str) -> str:
    return f"{name}@{DOMAIN}"


@pytest.fixture(scope="module")
def rules_cli(postfix, tmp_path_factory) -> Cli:
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    for name in PEOPLE:
        cli.ok("customer", "add", name, "--domain", DOMAIN, "--password-stdin",
               input=PASSWORD + "\n")
    return cli


def send(stack, raw: bytes, recipients: list[str], sender="someone@remote.example") -> None:
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.sendmail(sender, recipients, raw)


def unique(subject: str) -> str:
    return f"{subject} {uuid.uuid4().hex[:8]}"


def imap(stack, tls_context, login: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=tls_context)
    client.login(login, PASSWORD)
    return client


def messages(stack, tls_context, login: str, folder: str, text: str) -> list[email.message.Message]:
    """The messages in FOLDER (IMAP's modified UTF-7 name) whose headers contain TEXT."""
    with imap(stack, tls_context, login) as client:
        status, _ = client.select(f'"{folder}"', readonly=True)
        if status != "OK":
            return []
        _, found = client.search(None, "TEXT", f'"{text}"')
        result = []
        for number in found[0].split():
            _, parts = client.fetch(number, "(BODY.PEEK[])")
            result.append(email.message_from_bytes(parts[0][1], policy=email.policy.default))
        return result


def arrives(stack, tls_context, login: str, folder: str, text: str, count: int = 1):
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        found = messages(stack, tls_context, login, folder, text)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    pytest.fail(f"{text!r} did not arrive in {login}'s {folder} within {DELIVERY_TIMEOUT}s")


def settle(stack) -> None:
    """Wait until Postfix's queue is empty: what should have arrived has arrived."""
    deadline, listing = time.monotonic() + DELIVERY_TIMEOUT, ""
    while time.monotonic() < deadline:
        listing = run(["postqueue", "-c", str(stack.postfix.config_directory), "-p"])
        if "Mail queue is empty" in listing:
            return
        time.sleep(0.2)
    # The listing names each queued message with its sender, recipients and why it waits.
    pytest.fail(f"Postfix's queue did not empty:\n{listing[-3000:]}")


SIEVE = """require ["fileinto"];
if header :contains "subject" "Rechnung" { fileinto "Rechnungen 2026"; stop; }
if address :is "from" "chef@remote.example" { fileinto "Büro"; }
if header :contains "subject" "newsletter" { discard; }
"""


def test_filters_file_into_folders_with_spaces_and_umlauts(rules_cli, postfix, tls_context,
                                                           tmp_path):
    script = tmp_path / "dora.sieve"
    script.write_text(SIEVE, encoding="utf-8")
    rules_cli.ok("rules", "filter", "import", address("dora.rules"), str(script))
    invoice, boss, news = unique("Rechnung"), unique("Planung"), unique("newsletter")
    send(postfix, mail(invoice, "Bitte zahlen.\n").as_bytes(), [address("dora.rules")])
    boss_mail = mail(boss, "Montag?\n")
    boss_mail.replace_header("From", "Chef <chef@remote.example>")
    send(postfix, boss_mail.as_bytes(), [address("dora.rules")])
    send(postfix, mail(news, "Angebote\n").as_bytes(), [address("dora.rules")])
    arrives(postfix, tls_context, address("dora.rules"), "Rechnungen 2026", invoice)
    arrives(postfix, tls_context, address("dora.rules"), "B&APw-ro", boss)  # "Büro"
    settle(postfix)
    assert not messages(postfix, tls_context, address("dora.rules"), "INBOX", invoice)
    assert not messages(postfix, tls_context, address("dora.rules"), "INBOX", news)


def test_spam_goes_to_the_spam_folder_unless_whitelisted_and_blacklist_counts_as_spam(
        rules_cli, postfix, tls_context):
    mailbox = address("emil.rules")
    rules_cli.ok("rules", "spam", mailbox, "--action", "folder")
    rules_cli.ok("rules", "whitelist", mailbox, "friend@remote.example")
    rules_cli.ok("rules", "blacklist", mailbox, "@pushy.example")
    spam, friendly, pushy = unique("pills"), unique("friendly pills"), unique("offer")
    send(postfix, mail(spam, GTUBE).as_bytes(), [mailbox])
    send(postfix, mail(friendly, GTUBE).as_bytes(), [mailbox], sender="friend@remote.example")
    send(postfix, mail(pushy, "Nothing spammy here.\n").as_bytes(), [mailbox],
         sender="sales@pushy.example")
    arrives(postfix, tls_context, mailbox, "Spam", spam)
    arrives(postfix, tls_context, mailbox, "INBOX", friendly)
    arrives(postfix, tls_context, mailbox, "Spam", pushy)


def test_spam_action_delete_delivers_nothing(rules_cli, postfix, tls_context):
    mailbox = address("jonas.rules")
    rules_cli.ok("rules", "spam", mailbox, "--action", "delete")
    spam, ham = unique("pills"), unique("lunch")
    send(postfix, mail(spam, GTUBE).as_bytes(), [mailbox])
    send(postfix, mail(ham, "Noon?\n").as_bytes(), [mailbox])
    arrives(postfix, tls_context, mailbox, "INBOX", ham)
    settle(postfix)
    for folder in ("INBOX", "Spam"):
        assert not messages(postfix, tls_context, mailbox, folder, spam)
    logged = rules_cli.ok("log", "search", "--address", mailbox, "--json").output
    assert "discarded" in logged


def test_forwarding_with_and_without_a_local_copy(rules_cli, postfix, tls_context):
    source, target = address("fritz.rules"), address("greta.rules")
    rules_cli.ok("rules", "forward", source, target)
    moved = unique("forwarded only")
    send(postfix, mail(moved, "Hello\n").as_bytes(), [source])
    arrives(postfix, tls_context, target, "INBOX", moved)
    settle(postfix)
    assert not messages(postfix, tls_context, source, "INBOX", moved)

    # Forwarding belongs to an address: another address of the same mailbox keeps a copy.
    rules_cli.ok("address", "add", address("fritz.copy"), "--mailbox", source)
    rules_cli.ok("rules", "forward", address("fritz.copy"), target, "--keep-copy")
    copied = unique("forwarded and kept")
    send(postfix, mail(copied, "Hello\n").as_bytes(), [address("fritz.copy")])
    arrives(postfix, tls_context, target, "INBOX", copied)
    arrives(postfix, tls_context, source, "INBOX", copied)


def test_one_transaction_many_outcomes(rules_cli, postfix, tls_context, tmp_path):
    """Four recipients of one message: INBOX, a folder, forwarded, discarded."""
    script = tmp_path / "hanna.sieve"
    script.write_text('require ["fileinto"];\nif header :contains "subject" "Quartal"'
                      ' { fileinto "Berichte"; }\n', encoding="utf-8")
    rules_cli.ok("rules", "filter", "import", address("hanna.rules"), str(script))
    rules_cli.ok("rules", "filter", "add", address("ida.rules"), "--if",
                 "subject contains Quartal", "--discard")
    # A fresh address: the milter caches what it looked up for policy.cache_seconds.
    rules_cli.ok("address", "add", address("greta.away"), "--mailbox", address("greta.rules"))
    rules_cli.ok("rules", "forward", address("greta.away"), address("jonas.rules"))
    subject = unique("Quartal")
    recipients = [address(name) for name in ("emil.rules", "hanna.rules", "greta.away",
                                             "ida.rules")]
    send(postfix, mail(subject, "Zahlen\n").as_bytes(), recipients)
    arrives(postfix, tls_context, address("emil.rules"), "INBOX", subject)
    arrives(postfix, tls_context, address("hanna.rules"), "Berichte", subject)
    arrives(postfix, tls_context, address("jonas.rules"), "INBOX", subject)
    settle(postfix)
    assert not messages(postfix, tls_context, address("hanna.rules"), "INBOX", subject)
    assert not messages(postfix, tls_context, address("greta.rules"), "INBOX", subject)
    assert not messages(postfix, tls_context, address("ida.rules"), "INBOX", subject)


def test_vacation_replies_once_per_sender(rules_cli, postfix, tls_context):
    away, sender = address("karl.rules"), address("ida.rules")
    today = time.strftime("%Y-%m-%d")
    rules_cli.ok("rules", "vacation", away, "--from", today, "--until", today,
                 "--subject", "Bin im Urlaub", "--text", "Ab Montag wieder da.")
    first, second = unique("Frage"), unique("Noch eine Frage")
    for subject in (first, second):
        message = mail(subject, "Hallo?\n", recipient=away)
        message.replace_header("From", sender)
        send(postfix, message.as_bytes(), [away], sender=sender)
    arrives(postfix, tls_context, away, "INBOX", second)
    replies = arrives(postfix, tls_context, sender, "INBOX", "Bin im Urlaub")
    settle(postfix)
    replies = messages(postfix, tls_context, sender, "INBOX", "Bin im Urlaub")
    assert len(replies) == 1
    reply = replies[0]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Return-Path"] == "<>"
    assert reply["In-Reply-To"]
    assert "Ab Montag wieder da." in reply.get_content()


def test_a_filters_vacation_answers_the_chosen_sender_only_and_notify_sends_a_note(
        rules_cli, postfix, tls_context, tmp_path):
    away, boss, other = address("lena.rules"), address("emil.rules"), address("hanna.rules")
    script = tmp_path / "lena.sieve"
    script.write_text('require ["vacation", "enotify", "envelope"];\n'
                      f'if envelope :is "from" "{boss}" {{\n'
                      '    vacation :days 3 :subject "Lena ist weg" "Bis Montag.";\n'
                      '    notify :message "Post vom Chef" "mailto:ida.rules@rules.example";\n'
                      '}\n', encoding="utf-8")
    rules_cli.ok("rules", "filter", "import", away, str(script))
    subjects = {sender: unique("Anfrage") for sender in (boss, other)}
    for sender, subject in subjects.items():
        send(postfix, mail(subject, "Hallo?\n", sender=sender, recipient=away).as_bytes(),
             [away], sender=sender)
    for subject in subjects.values():
        arrives(postfix, tls_context, away, "INBOX", subject)
    [reply] = arrives(postfix, tls_context, boss, "INBOX", "Lena ist weg")
    assert reply["Return-Path"] == "<>" and reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] and "Bis Montag." in reply.get_content()
    [note] = arrives(postfix, tls_context, address("ida.rules"), "INBOX", "Post vom Chef")
    assert note["Auto-Submitted"].startswith("auto-notified")
    settle(postfix)
    assert not messages(postfix, tls_context, other, "INBOX", "Lena ist weg")
    assert len(messages(postfix, tls_context, address("ida.rules"), "INBOX",
                        "Post vom Chef")) == 1


def test_a_bounce_to_an_srs_address_reaches_the_original_sender(rules_cli, postfix,
                                                               tls_context):
    """What happens when a forward bounces: the bounce comes back to the SRS address."""
    settings = postfix.settings
    srs = Srs([secret.encode() for secret in settings.srs_secrets])
    original = address("ida.rules")
    bounce_to = srs.forward(original, srs_domain(settings))
    subject = unique("Undelivered Mail Returned to Sender")
    send(postfix, mail(subject, "The forward failed.\n").as_bytes(), [bounce_to], sender="")
    arrives(postfix, tls_context, original, "INBOX", subject)
    forged = bounce_to.replace("ida.rules", "dora.rules")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(postfix, mail(subject).as_bytes(), [forged], sender="")
    assert refused.value.recipients[forged][0] == 550
