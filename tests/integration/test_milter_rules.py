"""The rules stage through the milter adapter (Milter.testctx.TestCtx, no MTA), with the
real PostgreSQL for the rules and the stack's real rspamd and clamd for the stages before:
envelope rewriting per recipient, SRS for forwards that leave, loops, discarding."""

import io
from dataclasses import replace

import Milter
import pytest
from Milter import testctx

from mailbasic import db, smtplog
from mailbasic.milter.app import MailbasicMilter, configure
from mailbasic.rules.folders import folder_address
from mailbasic.srs import Srs
from tests.corpus import mail
from tests.integration.test_milter_adapter import mta_without_noreply  # noqa: F401

SECRET = "a secret of the test's own making"
DORA, EMIL = "dora.rules@example.net", "emil.rules@example.net"


@pytest.fixture
def rules_settings(rspamd, clamd, settings, cli):
    cli.ok("domain", "add", "example.net")
    for name in ("dora.rules", "emil.rules"):
        cli.ok("customer", "add", name, "--domain", "example.net", "--password-stdin",
               input="a long secret\n")
    return replace(rspamd.settings, database_url=settings.database_url,
                   srs_secrets=(SECRET,), policy_cache_seconds=0)


def feed(settings, raw: bytes, sender: str, *recipients: str):
    configure(settings)
    Milter.factory = MailbasicMilter
    ctx = testctx.TestCtx()
    ctx._setsymval("i", "RULESQUEUEID")
    ctx._addrcpt, ctx._delrcpt = [], []
    assert ctx._connect(ip="192.0.2.1") == Milter.CONTINUE
    return ctx, ctx._feedFile(io.BytesIO(raw), sender, *recipients)


def logged_outcomes(settings) -> dict[str, str]:
    with db.transaction(db.make_engine(settings)) as session:
        [entry] = smtplog.search(session, queue_id="RULESQUEUEID")
        return {recipient.address: recipient.outcome for recipient in entry.recipients}


def test_forward_to_an_outside_domain_rewrites_the_sender_with_srs(rules_settings, cli):
    cli.ok("rules", "forward", DORA, "dora@elsewhere.example")
    ctx, result = feed(rules_settings, mail("hi", "Hello\n").as_bytes(),
                       "someone@remote.example", DORA)
    assert result == Milter.ACCEPT
    assert [address for address, _ in ctx._addrcpt] == ["<dora@elsewhere.example>"]
    assert ctx._delrcpt == [f"<{DORA}>"]
    rewritten = ctx._sender.strip("<>")
    assert rewritten.startswith("SRS0=") and rewritten.endswith("@srs.example.net")
    assert Srs([SECRET.encode()]).reverse(rewritten) == "someone@remote.example"
    assert ctx._msg["X-Mailbasic-Loop"]
    assert logged_outcomes(rules_settings)[DORA] == "accepted: redirect to dora@elsewhere.example"


def test_forward_inside_the_service_keeps_the_sender(rules_settings, cli):
    cli.ok("rules", "forward", DORA, EMIL)
    ctx, result = feed(rules_settings, mail("hi").as_bytes(), "someone@remote.example", DORA)
    assert result == Milter.ACCEPT
    assert [address for address, _ in ctx._addrcpt] == [f"<{EMIL}>"]
    assert ctx._sender == "<someone@remote.example>"


def test_a_message_that_was_forwarded_here_before_is_not_forwarded_again(rules_settings, cli):
    cli.ok("rules", "forward", DORA, "dora@elsewhere.example")
    first, _ = feed(rules_settings, mail("hi").as_bytes(), "someone@remote.example", DORA)
    looped = mail("hi")
    looped["X-Mailbasic-Loop"] = first._msg["X-Mailbasic-Loop"]
    ctx, result = feed(rules_settings, looped.as_bytes(), "someone@remote.example", DORA)
    assert result == Milter.ACCEPT
    assert ctx._addrcpt == [] and ctx._delrcpt == []


def test_each_recipient_gets_its_own_envelope(rules_settings, cli):
    cli.ok("rules", "filter", "add", DORA, "--if", "subject contains Rechnung",
           "--fileinto", "Rechnungen 2026")
    ctx, result = feed(rules_settings, mail("Rechnung 1").as_bytes(), "someone@remote.example",
                       DORA, EMIL)
    assert result == Milter.ACCEPT
    assert [address for address, _ in ctx._addrcpt] == \
        [f"<{folder_address(DORA, 'Rechnungen 2026')}>"]
    assert ctx._delrcpt == [f"<{DORA}>"]
    outcomes = logged_outcomes(rules_settings)
    assert outcomes == {DORA: "accepted: into Rechnungen 2026", EMIL: "accepted: into INBOX"}


def test_when_every_recipient_discards_the_message_is_discarded(rules_settings, cli):
    for mailbox in (DORA, EMIL):
        cli.ok("rules", "filter", "add", mailbox, "--if", "subject contains newsletter",
               "--discard")
    _ctx, result = feed(rules_settings, mail("the newsletter").as_bytes(),
                       "someone@remote.example", DORA, EMIL)
    assert result == Milter.DISCARD
    assert set(logged_outcomes(rules_settings).values()) == {"accepted: discarded"}
