"""The stage dkim_sign with its keys in the real PostgreSQL (made with the CLI) and the
signatures verified by dkimpy against the stack's real DNS server (dnsmasq), which serves
the keys' TXT records; through the milter adapter (Milter.testctx.TestCtx) as well, with
clamd's virus notice in place of a part."""

import io
import json
import re
import uuid
from dataclasses import replace

import dkim
import Milter
import pytest
from Milter import testctx

from mailbasic.devstack.dns import Record
from mailbasic.dkim_keys import txt_strings
from mailbasic.milter.app import MailbasicMilter, configure
from mailbasic.milter.message import Client, Message
from mailbasic.milter.spool import Spool
from mailbasic.milter.stages import Pipeline
from mailbasic.milter.stages.dkim_sign import DkimSignStage
from tests.corpus import mail, virus_attached
from tests.dns_lookup import lookup
from tests.integration.test_milter_adapter import NOREPLY_BITS

DOMAIN = "example.net"
LOGIN = "alice.dkim@example.net"
RAW = (b"From: Alice <alice.dkim@example.net>\r\nTo: bob@example.org\r\n"
       b"Subject: signed\r\nMessage-ID: <1@example.net>\r\n"
       b"Content-Type: text/plain;\r\n\tcharset=utf-8\r\n\r\nHello,  Bob.\r\n\r\n")


def publish(stack, cli, *arguments: str) -> str:
    """A new key of DOMAIN, its TXT record served by the stack's DNS server; the
    selector."""
    # A selector of its own: the DNS server lives as long as the test session, each test
    # has a database of its own.
    selector = f"t{uuid.uuid4().hex[:12]}"
    cli.ok("dkim", "generate", DOMAIN, "--selector", selector, *arguments)
    view = next(view for view in json.loads(cli.ok("dkim", "show", DOMAIN, "--json").stdout)
                if view["selector"] == selector)
    strings = ",".join(f'"{part}"' for part in txt_strings(view["txt"]))
    stack.dns.publish([Record("txt-record", f"{view['name'].rstrip('.')},{strings}")])
    return selector




@pytest.fixture
def hosted(dns, cli):
    cli.ok("domain", "add", DOMAIN)
    cli.ok("customer", "add", "alice.dkim", "--domain", DOMAIN, "--password-stdin",
           input="a long secret\n")
    return cli


def message(raw: bytes, auth_user: str | None = LOGIN) -> Message:
    head, _, body = raw.partition(b"\r\n\r\n")
    spool = Spool(1 << 20)
    spool.write(head + b"\r\n\r\n")
    offset = spool.size
    spool.write(body)
    headers = []
    for line in head.split(b"\r\n"):
        if line[:1] in b" \t":
            name, value = headers.pop()
            headers.append((name, value + b"\n" + line))   # as Postfix hands folded values
        else:
            name, _, value = line.partition(b":")
            headers.append((name.decode(), value.strip()))
    return Message(queue_id="4ABC", client=Client("192.0.2.1", "client.example",
                                                  auth_user=auth_user),
                   sender=LOGIN, recipients=["bob@example.org"], headers=headers,
                   spool=spool, body_offset=offset)


def with_signatures(outcome, raw: bytes) -> bytes:
    return b"".join(f"{action.name}: {action.value}".replace("\n", "\r\n").encode() + b"\r\n"
                    for action in outcome.actions) + raw


def test_rsa_then_ed25519_signatures_verify_against_the_published_keys(hosted, dns,
                                                                       settings):
    rsa = publish(dns, hosted)
    hosted.ok("dkim", "activate", DOMAIN, rsa)
    outcome = DkimSignStage(settings).run(message(RAW))
    assert outcome.verdict == "signed" and f"s={rsa} a=rsa-sha256" in outcome.reason
    assert dkim.verify(with_signatures(outcome, RAW), dnsfunc=lookup(dns))

    ed = publish(dns, hosted, "--algorithm", "ed25519")
    hosted.ok("dkim", "activate", DOMAIN, ed)
    outcome = DkimSignStage(settings).run(message(RAW))
    signed = with_signatures(outcome, RAW)
    assert len(outcome.actions) == 2
    verifier = dkim.DKIM(signed)
    assert [verifier.verify(index, dnsfunc=lookup(dns)) for index in (0, 1)] == [True, True]


def test_a_changed_body_or_an_added_from_fails_verification(hosted, dns, settings):
    hosted.ok("dkim", "activate", DOMAIN, publish(dns, hosted))
    signed = with_signatures(DkimSignStage(settings).run(message(RAW)), RAW)
    assert not dkim.verify(signed.replace(b"Bob.", b"Eve."), dnsfunc=lookup(dns))
    assert not dkim.verify(b"From: ceo@example.net\r\n" + signed, dnsfunc=lookup(dns))


def test_unauthenticated_and_keyless_mail_is_not_signed(hosted, dns, settings):
    assert DkimSignStage(settings).run(message(RAW)).reason == "no active key for example.net"
    hosted.ok("dkim", "activate", DOMAIN, publish(dns, hosted))
    assert DkimSignStage(settings).run(message(RAW, auth_user=None)).actions == ()


@pytest.fixture
def mta_without_noreply(monkeypatch):
    monkeypatch.setattr(testctx.TestCtx, "default_opts",
                        [Milter.CURR_ACTS, 0x1FFFFF & ~NOREPLY_BITS, 0, 0])


def delivered(ctx) -> bytes:
    """The message as TestCtx holds it after the milter's changes, with CRLF: the headers
    of its message object (changed at end of message), the body it ends with."""
    head = ctx._msg.as_bytes().split(b"\n\n", 1)[0]
    body = ctx._body.getvalue().split(b"\n\n", 1)[1]
    return re.sub(rb"\r?\n", b"\r\n", head + b"\n\n" + body)


def test_the_adapter_signs_the_message_as_the_virus_stage_leaves_it(
        hosted, dns, clamd, spamd, settings, mta_without_noreply):
    hosted.ok("dkim", "activate", DOMAIN, publish(dns, hosted))
    scanning = replace(spamd.settings, database_url=settings.database_url)
    configure(scanning, Pipeline(scanning, order=(("sender",), ("virus",), ("dkim_sign",))))
    Milter.factory = MailbasicMilter
    for raw in (mail("plain", "Hello.\n", sender=LOGIN, recipient="bob@example.org"),
                virus_attached()):
        if raw["From"] != LOGIN:
            raw.replace_header("From", LOGIN)
        ctx = testctx.TestCtx()
        ctx._setsymval("i", "TESTQUEUEID")
        ctx._setsymval("{auth_authen}", LOGIN)
        assert ctx._connect(ip="192.0.2.1") == Milter.CONTINUE
        assert ctx._feedFile(io.BytesIO(raw.as_bytes()), LOGIN, "bob@example.org") \
            == Milter.ACCEPT
        assert ctx._msg["DKIM-Signature"] is not None
        assert dkim.verify(delivered(ctx), dnsfunc=lookup(dns)), raw["Subject"]
    assert b"removed content infected by a virus" in ctx._body.getvalue()
