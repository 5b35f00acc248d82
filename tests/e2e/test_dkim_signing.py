"""DKIM signing end to end: a key made and activated with the CLI, its TXT record served
by the stack's DNS server (dnsmasq); mail submitted with SMTP AUTH through the real
Postfix and the milter, read back over IMAPS, and verified by dkimpy with the key looked
up in that DNS server (dnspython). No DNS lookup is mocked."""

from __future__ import annotations

import imaplib
import json
import smtplib
import time
import uuid
from dataclasses import replace
from email.message import EmailMessage

import dkim
import pytest

from mailbasic.devstack.dns import Record
from mailbasic.devstack.layout import HOST
from mailbasic.dkim_keys import txt_strings
from tests.conftest import Cli
from tests.dns_lookup import lookup

DOMAIN = "signed-mail.example"
SENDER = (f"dkim.sender@{DOMAIN}", "dkim sender's long secret")
DELIVERY_TIMEOUT = 30


@pytest.fixture(scope="module")
def signing(postfix, dns, tmp_path_factory):
    """A hosted domain with a mailbox, and its active RSA key published in DNS."""
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    cli.ok("customer", "add", "dkim.sender", "--domain", DOMAIN, "--password-stdin",
           input=SENDER[1] + "\n")
    selector = f"e2e{uuid.uuid4().hex[:8]}"
    cli.ok("dkim", "generate", DOMAIN, "--selector", selector)
    view = next(view for view in json.loads(cli.ok("dkim", "show", DOMAIN, "--json").stdout)
                if view["selector"] == selector)
    strings = ",".join(f'"{part}"' for part in txt_strings(view["txt"]))
    dns.dns.publish([Record("txt-record", f"{view['name'].rstrip('.')},{strings}")])
    cli.ok("dkim", "activate", DOMAIN, selector)
    return postfix, selector




def received(stack, tls_context, login, subject: str) -> bytes:
    """The message as Dovecot stored it, once delivered (delivery is asynchronous)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=tls_context) as client:
            client.login(*login)
            client.select("INBOX", readonly=True)
            _, data = client.search(None, "SUBJECT", f'"{subject}"')
            if data[0]:
                _, parts = client.fetch(data[0].split()[-1], "(BODY.PEEK[])")
                return parts[0][1]
        time.sleep(0.2)
    pytest.fail(f"{subject!r} did not arrive within {DELIVERY_TIMEOUT}s")


def test_submitted_mail_arrives_signed_and_verifies_against_dns(signing, tls_context):
    stack, selector = signing
    mail = EmailMessage()
    mail["From"], mail["To"] = f"Dkim Sender <{SENDER[0]}>", SENDER[0]
    mail["Subject"] = subject = f"signed {uuid.uuid4()}"
    mail["Message-ID"] = f"<{uuid.uuid4()}@client.example>"
    mail.set_content("Signed by the milter,   with  spaces \nand a last line.\n")
    with smtplib.SMTP(HOST, stack.ports.submission, timeout=30) as client:
        client.starttls(context=tls_context)
        client.login(*SENDER)
        client.send_message(mail)
    message = received(stack, tls_context, SENDER, subject)
    verifier = dkim.DKIM(message)
    assert verifier.verify(dnsfunc=lookup(stack)), message[:2000]
    fields = verifier.signature_fields
    assert (fields[b"d"], fields[b"s"], fields[b"a"], fields[b"c"]) == (
        DOMAIN.encode(), selector.encode(), b"rsa-sha256", b"relaxed/relaxed")
    # Above the headers Postfix and Dovecot added on the way, as prepended.
    headers = message.split(b"\r\n\r\n", 1)[0].decode()
    assert headers.index("DKIM-Signature:") < headers.index("From:")
