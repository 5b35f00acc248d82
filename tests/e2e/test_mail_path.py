"""The mail path through the real Postfix, milter, policy daemon and Dovecot (issue 14):
no backscatter after acceptance, no mail for an address's next owner, authenticated
senders stay who they are, the service's own headers are its own."""

from __future__ import annotations

import json
import smtplib
from dataclasses import replace
from email.message import EmailMessage

import pytest

from tests.conftest import ROLE_MAILBOX, Cli
from tests.e2e.test_content_filtering import fetch_as, unique
from tests.e2e.test_rules_flow import settle

HOST = "127.0.0.1"
DOMAIN = "path.example"
PASSWORD = "a long path secret"


@pytest.fixture(scope="module")
def cli(postfix, tmp_path_factory):
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    return cli


def customer(cli, name: str, quota: str | None = None) -> tuple[str, str]:
    cli.ok("customer", "add", name, "--domain", DOMAIN, "--password-stdin",
           input=PASSWORD + "\n")
    if quota:
        cli.ok("mailbox", "quota", f"{name}@{DOMAIN}", quota)
    return f"{name}@{DOMAIN}", PASSWORD


def message(subject: str, recipient: str, size: int = 0,
            sender: str = "someone@remote.example") -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, recipient, subject
    mail.set_content("x" * 70 + "\n" + ("y" * 76 + "\n") * (size // 77))
    return mail.as_bytes()


def test_a_full_mailbox_among_several_recipients_is_refused_inside_the_transaction(
        postfix, cli, tls_context):
    """Postfix names no recipient to the policy at end of data when there are several,
    so a mailbox near its quota gets a transaction of its own: refused there, 552, and
    never bounced to the (forged) sender."""
    full = customer(cli, "nina.path", "60K")
    other = customer(cli, "otto.path")
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=60) as client:
        client.sendmail("someone@remote.example", [full[0]],
                        message(unique("filling"), full[0], 50_000))
    fetch_as(postfix, tls_context, full, "filling")
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.mail("forged-victim@remote.example")
        assert client.rcpt(other[0])[0] == 250
        code, text = client.rcpt(full[0])
        assert (code, text[:5]) == (452, b"4.5.3")
        assert client.data(message(unique("to both"), other[0], 20_000))[0] == 250
        client.mail("forged-victim@remote.example")
        assert client.rcpt(full[0])[0] == 250      # alone now
        code, text = client.data(message(unique("too much"), full[0], 20_000))
    assert (code, text[:5]) == (552, b"5.2.2")
    settle(postfix)  # nothing left in the queue: no bounce to the forged sender


def test_a_bare_postmaster_reaches_the_role_mailbox(postfix, cli, tls_context):
    role = role_mailbox(cli)
    subject = unique("bare postmaster")
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        assert client.rcpt("<postmaster>")[0] == 250
        assert client.data(message(subject, "postmaster"))[0] == 250
    fetch_as(postfix, tls_context, role, subject)


def role_mailbox(cli) -> tuple[str, str]:
    local, domain = ROLE_MAILBOX.split("@")
    if cli("domain", "add", domain).exit_code not in (0, 5):  # 5: hosted already
        pytest.fail("cannot host the role mailbox's domain")
    if cli("mailbox", "show", ROLE_MAILBOX).exit_code != 0:
        cli.ok("customer", "add", local, "--domain", domain, "--password-stdin",
               input=PASSWORD + "\n")
    return ROLE_MAILBOX, PASSWORD


def test_mail_for_a_leavers_address_reaches_nobody_else(postfix, cli, tls_context):
    leaver = customer(cli, "leaver.path")
    cli.ok("address", "add", f"leaver.alias@{DOMAIN}", "--mailbox", leaver[0])
    friend = customer(cli, "frieda.path")
    cli.ok("rules", "forward", f"frieda.path@{DOMAIN}", leaver[0], "--keep-copy")
    cli.ok("rules", "filter", "import", friend[0], "-",
           input=f'if header :contains "subject" "boss" {{ redirect "{leaver[0]}"; }}\n')
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=60) as client:
        # Through the alias: the policy never looked the primary address up, so it has
        # nothing cached of the old mailbox when the new one is asked for below.
        client.sendmail("someone@remote.example", [f"leaver.alias@{DOMAIN}"],
                        message(unique("old usage"), leaver[0], 50_000))
    fetch_as(postfix, tls_context, leaver, "old usage")

    cli.ok("customer", "delete", "leaver.path", "--yes")
    rules = json.loads(cli.ok("rules", "show", friend[0], "--json").stdout)
    assert rules["forwards"] == {} and leaver[0] not in rules["filters"]
    refusal = cli.refused(9, "customer", "add", "leaver.path", "--domain", DOMAIN,
                          "--password-stdin", input=PASSWORD + "\n")
    assert "held until" in refusal

    # Once the hold is over (here: none), a new mailbox starts empty, whatever the old
    # one held: 50 KB fit into 60 KB.
    unheld = Cli(replace(postfix.settings, bcrypt_cost=4, address_hold_days=0),
                 cli.config.parent)
    successor = customer(unheld, "leaver.path", "60K")
    subject = unique("fits")
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=60) as client:
        client.sendmail("someone@remote.example", [successor[0]],
                        message(subject, successor[0], 50_000))
    assert "old usage" not in fetch_as(postfix, tls_context, successor, subject).as_string()


def test_an_authenticated_sender_stays_who_it_is(postfix, cli, tls_context):
    alice = customer(cli, "alicia.path")
    with smtplib.SMTP(HOST, postfix.ports.submission, timeout=60) as client:
        client.starttls(context=tls_context)
        client.login(*alice)
        client.mail("")                      # the null sender is for bounces
        code, text = client.rcpt("someone@remote.example")
        assert (code, text[:5]) == (553, b"5.7.1")
        client.rset()
        client.mail(alice[0])
        assert client.rcpt(alice[0])[0] == 250
        forged = message("from the CEO", alice[0], sender=f"Boss <boss.path@{DOMAIN}>")
        code, text = client.data(forged)
        assert (code, text[:5]) == (553, b"5.7.1") and b"boss.path@path.example" in text
        client.mail(alice[0])
        client.rcpt(alice[0])
        subject = unique("my own")
        assert client.data(message(subject, alice[0], sender=alice[0]))[0] == 250
    fetch_as(postfix, tls_context, alice, subject)
    logged = json.loads(cli.ok("log", "search", "--address", alice[0], "--json").stdout)
    assert {entry["auth_user"] for entry in logged} == {alice[0]}


def test_the_services_own_headers_from_outside_are_removed(postfix, cli, tls_context):
    bob = customer(cli, "bobby.path")
    subject = unique("forged headers")
    raw = (b"X-Mailbasic-Virus-Removed: nothing, trust me\r\n"
           b"X-Mailbasic-Collected: from your bank\r\n" + message(subject, bob[0]))
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=60) as client:
        client.sendmail("someone@remote.example", [bob[0]], raw)
    arrived = fetch_as(postfix, tls_context, bob, subject)
    assert arrived["X-Mailbasic-Virus-Removed"] is None
    assert arrived["X-Mailbasic-Collected"] is None
