"""The milter adapter driven by Milter.testctx.TestCtx (no MTA), with the real spamd and
clamd of the stack behind the stages: SpamAssassin (spam.engine = "spamassassin", no
longer the default) stays tested here; rspamd through the adapter is in
test_rspamd_engine.py."""

import io
from dataclasses import replace

import Milter
import pytest
from Milter import testctx
from sqlalchemy import text

from mailbasic import db, smtplog
from mailbasic.config import MIB
from mailbasic.devstack.clamd import EICAR
from mailbasic.milter.app import MailbasicMilter, configure
from mailbasic.milter.decisions import Outcome
from mailbasic.milter.stages import Pipeline
from tests.corpus import (
    GTUBE,
    encrypted_zip,
    mail,
    virus_attached,
    virus_in_attached_message,
    virus_only,
    virus_zipped,
    with_attachment,
)

# TestCtx stops feeding at any answer other than CONTINUE, and our collecting callbacks
# answer NOREPLY when the MTA allows it; so this context plays an MTA without NOREPLY.
NOREPLY_BITS = (Milter.P_NR_CONN | Milter.P_NR_HELO | Milter.P_NR_MAIL | Milter.P_NR_RCPT
                | Milter.P_NR_DATA | Milter.P_NR_UNKN | Milter.P_NR_EOH | Milter.P_NR_BODY
                | Milter.P_NR_HDR)




@pytest.fixture(autouse=True)
def mta_without_noreply(monkeypatch):
    # TestCtx._negotiate reads TestCtx.default_opts by class name: patch it there.
    monkeypatch.setattr(testctx.TestCtx, "default_opts",
                        [Milter.CURR_ACTS, 0x1FFFFF & ~NOREPLY_BITS, 0, 0])


@pytest.fixture
def scanning(spamd, clamd, dns, settings):
    """The stack's spamd and clamd, its DNS server (the sender checks ask it), and a fresh
    database of this test for the transaction log."""
    return replace(spamd.settings, database_url=settings.database_url,
                   spam_engine="spamassassin")


def feed(settings, raw: bytes, *, auth_user=None, size=None, pipeline=None, sender="a@b.example"):
    configure(settings, pipeline)
    Milter.factory = MailbasicMilter
    ctx = testctx.TestCtx()
    ctx._setsymval("i", "TESTQUEUEID")
    if auth_user:
        ctx._setsymval("{auth_authen}", auth_user)
    assert ctx._connect(ip="192.0.2.1") == Milter.CONTINUE
    if size is not None:
        result = ctx._envfrom(f"<{sender}>", f"SIZE={size}")
        return ctx, result
    return ctx, ctx._feedFile(io.BytesIO(raw), sender, "alice@example.net")


def output(ctx) -> bytes:
    return ctx._body.getvalue()


def test_clean_mail_is_accepted_with_spam_headers(scanning):
    ctx, result = feed(scanning, mail("hello", "Shall we meet at noon?\n").as_bytes())
    assert result == Milter.ACCEPT
    assert not ctx._bodyreplaced
    assert ctx._msg["X-Spam-Status"].startswith("No, score=")
    assert ctx._msg["X-Spam-Flag"] is None


def test_gtube_is_flagged_and_outside_spam_headers_are_not_trusted(scanning):
    raw = mail("buy now", GTUBE)
    raw["X-Spam-Flag"] = "NO"
    raw["X-Spam-Status"] = "No, score=-100"
    ctx, result = feed(scanning, raw.as_bytes())
    assert result == Milter.ACCEPT
    assert ctx._msg.get_all("X-Spam-Flag") == ["YES"]
    status = ctx._msg.get_all("X-Spam-Status")
    assert len(status) == 1 and status[0].startswith("Yes, score=1") and "GTUBE" in status[0]
    assert ctx._msg["X-Spam-Level"] == "*" * 50
    assert float(ctx._msg["X-Spam-Score"]) >= 1000


@pytest.mark.parametrize("make", [virus_attached, virus_zipped, virus_in_attached_message])
def test_infected_part_is_replaced_by_a_notice(scanning, make):
    message = make()
    ctx, result = feed(scanning, message.as_bytes())
    assert result == Milter.ACCEPT
    body = output(ctx)
    assert b"removed content infected by a virus" in body
    assert b"Eicar-Test-Signature" in body
    assert b"X5O!P%@AP" not in body and b"WDVPIVAlQEFQ" not in body  # raw or base64
    assert ctx._msg["X-Mailbasic-Virus-Removed"].startswith("Eicar-Test-Signature")


def test_parts_that_stay_are_byte_identical(scanning):
    message = virus_attached()
    raw = message.as_bytes()
    first_part = message.get_payload()[0].as_bytes()
    ctx, _ = feed(scanning, raw)
    assert first_part.replace(b"\r\n", b"\n") in output(ctx).replace(b"\r\n", b"\n")
    assert b'"invoice.exe": Eicar-Test-Signature' in output(ctx)


def test_message_that_is_only_a_virus_becomes_the_notice(scanning):
    ctx, result = feed(scanning, virus_only())
    assert result == Milter.ACCEPT
    assert output(ctx).endswith(b"The rest of the message was delivered unchanged.\r\n")
    assert b"X5O!P%@AP" not in output(ctx)
    assert ctx._msg["Content-Type"] == "text/plain; charset=utf-8"
    assert ctx._msg["Content-Disposition"] is None


def test_an_encrypted_archive_is_refused_for_good_saying_why(scanning):
    """It will never be scannable: a 451 would only make the sender retry for days."""
    message = with_attachment(mail("secret"), encrypted_zip(), "secret.zip", "zip")
    ctx, result = feed(scanning, message.as_bytes())
    assert result == Milter.REJECT
    assert ctx._reply[:2] == ("554", "5.7.1")
    assert "encrypted archive" in ctx._reply[2]


def test_unscannable_content_can_be_tempfailed_instead(scanning):
    message = with_attachment(mail("secret"), encrypted_zip(), "secret.zip", "zip")
    ctx, result = feed(replace(scanning, unscannable_action="tempfail"), message.as_bytes())
    assert result == Milter.TEMPFAIL
    assert ctx._reply[:2] == ("451", "4.7.1")


def test_announced_size_over_the_limit_is_refused_at_mail_from(scanning):
    ctx, result = feed(scanning, b"", size=20 * MIB + 1)
    assert result == Milter.REJECT
    assert ctx._reply[:2] == ("552", "5.3.4")
    ctx, result = feed(scanning, b"", size=20 * MIB)
    assert result == Milter.CONTINUE


def test_counted_size_over_the_limit_is_refused(scanning):
    raw = mail("big", "x" * 2000 + "\n").as_bytes()
    ctx, result = feed(replace(scanning, message_size_limit=1000), raw)
    assert result == Milter.REJECT
    assert ctx._reply[:2] == ("552", "5.3.4")


def test_spamd_down_tempfails(scanning):
    ctx, result = feed(replace(scanning, spamd_port=1), mail("x").as_bytes())
    assert result == Milter.TEMPFAIL and ctx._reply[:2] == ("451", "4.7.1")


def test_spamd_down_with_fail_open_delivers_marked_not_scanned(scanning):
    ctx, result = feed(replace(scanning, spamd_port=1, spamd_fail_open=True),
                       mail("x").as_bytes())
    assert result == Milter.ACCEPT
    assert ctx._msg["X-Spam-Status"] == "No, not scanned: spamd unavailable"


def test_clamd_down_tempfails_even_with_spam_fail_open(scanning):
    ctx, result = feed(replace(scanning, clamd_port=1, spamd_fail_open=True),
                       mail("x").as_bytes())
    assert result == Milter.TEMPFAIL and ctx._reply[:2] == ("451", "4.7.1")


@pytest.fixture
def alice(cli):
    """alice@example.net with the alias alice.smith@example.net, in the test's database."""
    cli.ok("domain", "add", "example.net")
    cli.ok("customer", "add", "alice", "--domain", "example.net", "--password-stdin",
           input="a long secret\n")
    cli.ok("address", "add", "alice.smith@example.net", "--mailbox", "alice@example.net")


def test_authenticated_submission_is_scanned_but_not_tagged(scanning, alice):
    ctx, result = feed(scanning, mail("mine", sender="alice@example.net").as_bytes(),
                       auth_user="alice@example.net")
    assert result == Milter.ACCEPT
    assert ctx._msg["X-Spam-Flag"] is None and ctx._msg["X-Spam-Status"] is None
    [(reply, verdicts, _, _, _)] = logged(scanning)
    assert reply == "250 accepted" and verdicts["spam"]["verdict"] == "ham"
    assert verdicts["spam"]["reason"].startswith("submission, score ")


def test_authenticated_spam_is_refused_for_good_and_is_an_incident(scanning, alice, engine):
    ctx, result = feed(scanning, mail("mine", GTUBE, sender="alice@example.net").as_bytes(),
                       auth_user="alice@example.net")
    assert result == Milter.REJECT and ctx._reply[:2] == ("554", "5.7.1")
    assert ctx._reply[2].startswith("Message refused as spam (score 10")
    with engine.connect() as connection:
        kind, detail, queue_id, client = connection.execute(text(
            "SELECT kind, detail, queue_id, client_address FROM sending_incidents")).one()
    assert (kind, queue_id, client) == ("spam", "TESTQUEUEID", "192.0.2.1")
    assert detail.startswith("outgoing mail scored 10") and "GTUBE" in detail


@pytest.mark.parametrize("from_header", ["alice@example.net", "Alice <ALICE.SMITH@example.net>"])
def test_an_authenticated_sender_writes_its_own_addresses_in_from(scanning, alice,
                                                                  from_header):
    raw = mail("mine", sender=from_header).as_bytes()
    _ctx, result = feed(scanning, raw, auth_user="alice@example.net")
    assert result == Milter.ACCEPT


@pytest.mark.parametrize("from_header, refusal", [
    ("Alice CEO <ceo@example.net>", "<ceo@example.net> is not an address of the "
                                    "authenticated user alice@example.net"),
    ("alice@example.net, boss@example.net", "<boss@example.net> is not an address"),
    ("", "exactly one From: header"),
])
def test_a_foreign_from_header_is_refused_inside_the_transaction(scanning, alice,
                                                                 from_header, refusal):
    message = mail("forged")
    del message["From"]
    if from_header:
        message["From"] = from_header
    ctx, result = feed(scanning, message.as_bytes(), auth_user="alice@example.net")
    assert result == Milter.REJECT and ctx._reply[:2] == ("553", "5.7.1")
    assert refusal in ctx._reply[2]


def test_the_services_own_headers_from_outside_are_removed(scanning):
    message = mail("forged headers")
    message["X-Mailbasic-Virus-Removed"] = "nothing, honestly"
    message["X-MAILBASIC-Collected"] = "from nowhere"
    ctx, result = feed(scanning, message.as_bytes())
    assert result == Milter.ACCEPT
    assert ctx._msg["X-Mailbasic-Virus-Removed"] is None
    assert ctx._msg["X-Mailbasic-Collected"] is None


def test_message_above_the_scan_cap_skips_spamd_and_says_so(scanning):
    raw = mail("large", GTUBE + "\n" + "y" * 3000 + "\n").as_bytes()
    ctx, result = feed(replace(scanning, spam_scan_cap=1000), raw)
    assert result == Milter.ACCEPT
    assert ctx._msg["X-Spam-Status"] == "No, not scanned: larger than 1000 bytes"


class ExplodingStage:
    name = "exploding"

    def run(self, message) -> Outcome:
        raise RuntimeError("a bug in a stage")


def test_an_exception_inside_a_stage_tempfails_never_accepts(scanning):
    pipeline = Pipeline(scanning, order=(("exploding",),),
                        stages={"exploding": ExplodingStage()})
    ctx, result = feed(scanning, mail("x").as_bytes(), pipeline=pipeline)
    assert result == Milter.TEMPFAIL
    assert ctx._reply[:2] == ("451", "4.3.0")


def logged(settings, queue_id="TESTQUEUEID"):
    engine = db.make_engine(settings)
    try:
        with db.transaction(engine) as session:
            return [(row.reply, row.verdicts, [(r.address, r.outcome) for r in row.recipients],
                     row.client_address, row.size)
                    for row in smtplog.search(session, queue_id=queue_id)]
    finally:
        engine.dispose()


def test_every_transaction_is_logged_with_verdicts(scanning):
    feed(scanning, mail("buy now", GTUBE).as_bytes())
    [(reply, verdicts, recipients, client, size)] = logged(scanning)
    assert reply == "250 accepted"
    assert verdicts["spam"]["verdict"] == "spam" and "score 10" in verdicts["spam"]["reason"]
    assert verdicts["virus"]["verdict"] == "clean"
    assert recipients == [("alice@example.net", "accepted")]
    assert client == "192.0.2.1" and size > 0


def test_refusals_are_logged_with_their_reply(scanning):
    feed(scanning, virus_attached().as_bytes())
    feed(replace(scanning, clamd_port=1), mail("x").as_bytes())
    feed(scanning, b"", size=30 * MIB)
    replies = sorted(entry[0] for entry in logged(scanning))
    assert replies[0] == "250 accepted"
    assert replies[1].startswith("451 4.7.1 Virus scanner unavailable")
    [(reply, verdicts, _, _, _)] = logged(scanning, "NOQUEUE")
    assert reply.startswith("552 5.3.4") and verdicts["size"]["verdict"] == "reject"


def test_database_down_tempfails_rather_than_accepting_unlogged(scanning):
    unreachable = replace(scanning, database_url="postgresql+psycopg2://x:y@127.0.0.1:1/z")
    ctx, result = feed(unreachable, mail("hello").as_bytes())
    assert result == Milter.TEMPFAIL and ctx._reply[:2] == ("451", "4.3.0")


MALFORMED = {
    "missing boundary": b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n--x--\r\n",
    "duplicate boundary": (b'Content-Type: multipart/mixed; boundary="s"\r\n\r\n'
                           b'--s\r\nContent-Type: multipart/mixed; boundary="s"\r\n\r\n'
                           b"--s\r\n\r\ninner\r\n--s--\r\n--s\r\n\r\nafter\r\n--s--\r\n"),
    "broken base64": (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                      b"Content-Transfer-Encoding: base64\r\n\r\nSGVs!!bG8*\r\n--b--\r\n"),
    "8-bit headers": b"Subject: gr\xfc\xdfe \xff\r\nFrom: a@b.example\r\n\r\nhello\r\n",
    "rfc2231 filename": (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                         b"Content-Disposition: attachment; filename*=UTF-8''B%C3%BCro.txt"
                         b"\r\n\r\ntext\r\n--b--\r\n"),
    "part with no body": (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
                          b"--b\r\nContent-Type: text/plain\r\n--b--\r\n"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_mime_is_scanned_and_delivered(scanning, name):
    raw = b"From: a@b.example\r\nTo: alice@example.net\r\nMIME-Version: 1.0\r\n" + MALFORMED[name]
    _ctx, result = feed(scanning, raw)
    assert result == Milter.ACCEPT
    [(reply, verdicts, _, _, _)] = logged(scanning)
    assert reply == "250 accepted" and verdicts["virus"]["verdict"] == "clean"


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_virus_inside_malformed_mime_is_still_found(scanning, name):
    raw = (b"From: a@b.example\r\nTo: alice@example.net\r\nMIME-Version: 1.0\r\n"
           + MALFORMED[name].replace(b"\r\n--", b"\r\n" + EICAR + b"\r\n--", 1))
    if EICAR not in raw:
        raw += EICAR + b"\r\n"
    ctx, result = feed(scanning, raw)
    assert result == Milter.ACCEPT
    assert b"X5O!P%@AP" not in output(ctx)
    [(_, verdicts, _, _, _)] = logged(scanning)
    assert verdicts["virus"]["verdict"] == "infected"


def test_nesting_deeper_than_the_reader_follows_is_refused_for_good(scanning):
    """Never counted clean, and never 451: it would be as deep on every retry."""
    nested = b"".join(b'Content-Type: multipart/mixed; boundary="l%d"\r\n\r\n--l%d\r\n'
                      % (n, n) for n in range(40)) + b"\r\ncore\r\n"
    ctx, result = feed(scanning, b"From: a@b.example\r\nMIME-Version: 1.0\r\n" + nested)
    assert result == Milter.REJECT and ctx._reply[:2] == ("554", "5.7.1")
    assert "nested too deeply" in ctx._reply[2]
    [(_, verdicts, _, _, _)] = logged(scanning)
    assert verdicts["virus"]["reason"] == "nested too deep"


def test_spamd_user_is_the_single_recipients_mailbox(scanning, cli):
    from mailbasic.milter.message import Client, Message
    from mailbasic.milter.spool import Spool
    from mailbasic.milter.stages.spam import SpamStage

    cli.ok("domain", "add", "example.net")
    cli.ok("customer", "add", "alice", "--domain", "example.net", "--password-stdin",
           input="a long secret\n")
    cli.ok("address", "add", "alice.smith@example.net", "--mailbox", "alice@example.net")
    stage = SpamStage(scanning)

    def user(*recipients):
        # Message holds bare addresses: the adapter strips the <> of MAIL and RCPT.
        return stage._user(Message("Q", Client("192.0.2.1", "x"), "a@b.example",
                                   list(recipients), [], Spool(1024), 0))

    assert user("Alice.Smith@example.net") == "alice@example.net"
    assert user("someone@elsewhere.example") == scanning.spamd_default_user
    assert user("alice@example.net", "alice.smith@example.net") == \
        scanning.spamd_default_user
    stage.directory.engine.dispose()
