"""rspamd as the spam engine (spam.engine = "rspamd"), against the stack's real rspamd and
its real resolver (dnsmasq on loopback); only the broken peers of the failure tests are
the tests' own."""

import io
import socket
import time
from dataclasses import replace
from email.message import EmailMessage

import Milter
import pytest

from mailbasic.devstack.dns import (
    OUTSIDE_DOMAIN,
    OUTSIDE_IP,
    OUTSIDE_MAIL_HOST,
    RCODE_NXDOMAIN,
    TYPE_A,
    TYPE_TXT,
    query,
)
from mailbasic.milter.stages.spam import spam_headers
from mailbasic.scanners.rspamd import Envelope, RspamdClient, RspamdResult, to_report
from mailbasic.scanners.spamd import SpamdError
from tests.corpus import GTUBE, mail
from tests.integration.test_milter_adapter import feed, mta_without_noreply  # noqa: F401
from tests.loopback import LoopbackServer

RECIPIENT = "bob@example.net"


def check(stack, raw: bytes, envelope: Envelope, timeout: float = 30) -> RspamdResult:
    client = RspamdClient("127.0.0.1", stack.ports.rspamd, timeout)
    return client.check(io.BytesIO(raw), len(raw), envelope)


def outside(sender: str = f"carol@{OUTSIDE_DOMAIN}") -> Envelope:
    """Mail from the outside domain's own mail host, as its SPF record says."""
    return Envelope(sender, (RECIPIENT,), OUTSIDE_IP, OUTSIDE_MAIL_HOST, OUTSIDE_MAIL_HOST,
                    None, "4TESTQID", RECIPIENT)


def ham(sender: str = f"carol@{OUTSIDE_DOMAIN}", recipient: str = RECIPIENT) -> bytes:
    message = EmailMessage()
    message["From"] = f"Carol Jones <{sender}>"
    message["To"] = f"Bob <{recipient}>"
    message["Subject"] = "Lunch on Thursday"
    message["Date"] = "Mon, 30 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = f"<20261130100000.4711@{sender.split('@')[1]}>"
    message.set_content("Hi Bob,\n\nare we still on for lunch on Thursday? The new place "
                        "near the station opens at noon.\nI can book a table for two.\n\n"
                        "Carol\n")
    return message.as_bytes()


# Undisclosed recipients, no Date or Message-ID, a shouting base64 subject, and a link
# whose text names PayPal but which leads to a bare IP address.
SPAM = (b"From: \"BEST OFFER\" <winner@spammer.invalid>\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"Subject: =?utf-8?B?WU9VIEhBVkUgV09OICQxLDAwMCwwMDAhISE=?=\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><p>CONGRATULATIONS!!! YOU HAVE WON $1,000,000 USD!!! CLICK NOW\r\n"
        b"<a href=\"http://198.51.100.7/claim.php?id=123\">https://www.paypal.com/verify</a>"
        b"\r\nSend your bank account details to claim your prize. 100% FREE!!!</p>"
        b"</body></html>\r\n")
SPAM_SYMBOLS = {"R_UNDISC_RCPT", "MISSING_MID", "MISSING_DATE", "PHISHING", "HTTP_TO_IP",
                "SUBJ_ALL_CAPS"}


def test_the_resolver_answers_the_test_zones_and_refuses_the_rest_at_once(dns):
    assert query(dns.ports.dns, OUTSIDE_MAIL_HOST, TYPE_A) == (0, 1)
    assert query(dns.ports.dns, OUTSIDE_DOMAIN, TYPE_TXT) == (0, 1)
    started = time.monotonic()
    assert query(dns.ports.dns, "zen.spamhaus.org", TYPE_A)[0] == RCODE_NXDOMAIN
    assert query(dns.ports.dns, "2.0.0.127.zen.spamhaus.org", TYPE_A)[0] == RCODE_NXDOMAIN
    assert time.monotonic() - started < 0.5


def test_gtube_gets_rspamds_reject_score_and_our_headers(rspamd):
    raw = mail("spam", GTUBE).as_bytes()
    result = check(rspamd, raw, outside("someone@remote.example"))
    assert result.action == "reject" and result.score >= result.required_score
    assert result.symbols == ("GTUBE",)
    report = to_report(result)
    assert report.is_spam and report.score == result.score
    headers = {header.name: header.value for header in spam_headers(report)}
    assert headers["X-Spam-Flag"] == "YES"
    assert headers["X-Spam-Status"] == f"Yes, score={result.score:.1f} required=5.0 tests=GTUBE"


def test_ham_passes_with_spf_checked_against_the_stacks_resolver(rspamd):
    result = check(rspamd, ham(), outside())
    report = to_report(result)
    assert not report.is_spam and report.score < 1, result
    assert "R_SPF_ALLOW" in result.symbols   # the TXT record came from dnsmasq


def test_spam_is_told_from_ham_by_its_symbols(rspamd):
    result = check(rspamd, SPAM, Envelope("winner@spammer.invalid", (RECIPIENT,),
                                          "203.0.113.9", "localhost"))
    report = to_report(result)
    assert report.is_spam and report.score >= 15, result
    assert SPAM_SYMBOLS <= set(result.symbols)
    assert check(rspamd, ham(), outside()).score < report.score - 10


def test_an_authenticated_login_is_told_to_rspamd(rspamd):
    envelope = replace(outside(), login="alice@example.net")
    result = check(rspamd, ham(), envelope)
    # rspamd skips the SPF check for authenticated users.
    assert "R_SPF_ALLOW" not in result.symbols and not to_report(result).is_spam


class Silent(LoopbackServer):
    """Accepts, reads, never answers."""

    def _session(self, client: socket.socket) -> None:
        with client:
            while client.recv(65536):
                pass


class Garbage(LoopbackServer):
    """Reads the request, answers HTTP 200 with a body that is not JSON."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        super().__init__()

    def _session(self, client: socket.socket) -> None:
        with client:
            received = b""
            while b"\r\n\r\n" not in received:
                received += client.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(body) < length:
                body += client.recv(65536)
            client.sendall(self.answer)


NOT_JSON = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!"


@pytest.fixture
def silent():
    server = Silent()
    yield server
    server.close()


@pytest.fixture(params=[NOT_JSON, b"SPAMD/1.5 0 EX_OK\r\n\r\n",
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"])
def garbage(request):
    server = Garbage(request.param)
    yield server
    server.close()


def test_a_silent_rspamd_times_out_within_the_budget_as_spamd_does(silent):
    started = time.monotonic()
    with pytest.raises(SpamdError, match=r"timed out|within"):
        RspamdClient("127.0.0.1", silent.port, 1).check(io.BytesIO(b"x"), 1, outside())
    assert time.monotonic() - started < 2


def test_garbage_from_rspamd_is_spamds_error(garbage):
    with pytest.raises(SpamdError):
        RspamdClient("127.0.0.1", garbage.port, 5).check(io.BytesIO(b"x"), 1, outside())


def test_rspamd_down_is_an_error(stack):
    with pytest.raises(SpamdError):
        RspamdClient("127.0.0.1", 1, 2).check(io.BytesIO(b"x"), 1, outside())


@pytest.fixture
def scanning(rspamd, spamd, clamd, settings):
    """The milter's stages with rspamd as the engine, clamd beside it, the test's database
    for the transaction log."""
    return replace(rspamd.settings, database_url=settings.database_url, spam_engine="rspamd")


def test_the_milter_writes_rspamds_verdict_in_our_headers(scanning):
    ctx, result = feed(scanning, mail("spam", GTUBE).as_bytes())
    assert result == Milter.ACCEPT
    assert ctx._msg["X-Spam-Flag"] == "YES" and ctx._msg["X-Spam-Score"] == "15.0"
    assert ctx._msg["X-Spam-Status"] == "Yes, score=15.0 required=5.0 tests=GTUBE"
    # From the outside domain's mail host name (no SPF record of its own: the milter's
    # test client is 192.0.2.1). corpus.mail()'s messages, with neither Date nor
    # Message-ID, score above 5 in rspamd (MISSING_MID, MISSING_DATE, ...).
    sender = f"carol@{OUTSIDE_MAIL_HOST}"
    ctx, result = feed(scanning, ham(sender, "alice@example.net"), sender=sender)
    assert result == Milter.ACCEPT and ctx._msg["X-Spam-Flag"] is None
    assert ctx._msg["X-Spam-Status"].startswith("No, score=")


def test_a_silent_rspamd_tempfails_in_the_milter(scanning, silent):
    ctx, result = feed(replace(scanning, rspamd_port=silent.port, rspamd_timeout=1),
                       mail("x").as_bytes())
    assert result == Milter.TEMPFAIL and ctx._reply[:2] == ("451", "4.7.1")


def test_garbage_from_rspamd_tempfails_in_the_milter(scanning, garbage):
    ctx, result = feed(replace(scanning, rspamd_port=garbage.port), mail("x").as_bytes())
    assert result == Milter.TEMPFAIL and ctx._reply[:2] == ("451", "4.7.1")


def test_a_broken_rspamd_with_fail_open_delivers_marked_not_scanned(scanning, silent):
    ctx, result = feed(replace(scanning, rspamd_port=silent.port, rspamd_timeout=1,
                               spamd_fail_open=True), mail("x").as_bytes())
    assert result == Milter.ACCEPT
    assert ctx._msg["X-Spam-Status"] == "No, not scanned: rspamd unavailable"
