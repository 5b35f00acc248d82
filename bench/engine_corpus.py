"""What milter_bench.py sends besides its 2 KB message: a mixed-size stream like real mail
(issue 21: 70% under 10 KB, 25% 10-500 KB, 5% 0.5-10 MB) and a small ham/spam corpus on
which both spam engines are scored, built here (no data files to go stale)."""

from __future__ import annotations

import base64
import random
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from mailbasic.devstack.dns import OUTSIDE_DOMAIN, OUTSIDE_IP, OUTSIDE_MAIL_HOST
from mailbasic.scanners.rspamd import Envelope

KB, MB = 1024, 1024 * 1024
# (share of the stream, smallest, largest size in bytes); sizes log-uniform in each band.
MIXED_BANDS = ((0.70, 1 * KB, 10 * KB), (0.25, 10 * KB, 500 * KB), (0.05, 512 * KB, 10 * MB))
RECIPIENT = "rcpt@bench.example"
# The outside domain of the stack's DNS zones: its mail host passes SPF.
OUTSIDE_SENDER = f"carol@{OUTSIDE_DOMAIN}"
TEXT = ("Dear colleague, the quarterly report is attached as discussed in the meeting "
        "on Tuesday. Please review the numbers for the northern region before Friday. ")


def text_message(size: int, sender: str = OUTSIDE_SENDER, recipient: str = RECIPIENT,
                 date: str = "Tue, 24 Nov 2026 10:00:00 +0000", reference: str = "") -> bytes:
    """About SIZE bytes of text; REFERENCE, when given, starts the text (messages of the
    same size then differ)."""
    opening = f"Reference {reference}. " if reference else ""
    body = (opening + TEXT * (size // len(TEXT) + 1))[:size]
    lines = [body[i:i + 76] for i in range(0, len(body), 76)]
    return (f"From: Carol Jones <{sender}>\r\nTo: {recipient}\r\n"
            "Subject: quarterly report\r\n"
            f"Message-ID: <bench.{size}@{sender.split('@')[1]}>\r\n"
            f"Date: {date}\r\n\r\n"
            + "\r\n".join(lines) + "\r\n").encode()


def with_attachment(size: int, rng: random.Random, sender: str = OUTSIDE_SENDER,
                    reference: str = "") -> bytes:
    """About SIZE bytes: a short text and a base64 attachment of incompressible bytes (as
    PDFs, photos and archives are), which is what makes most large mail large."""
    opening = f"Reference {reference}. " if reference else ""
    head = (f"From: Carol Jones <{sender}>\r\nTo: {RECIPIENT}\r\nSubject: the scans\r\n"
            f"Message-ID: <bench.att.{size}@{sender.split('@')[1]}>\r\n"
            "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            + opening + TEXT * 4 + "\r\n--b1\r\n"
            'Content-Type: application/pdf; name="scans.pdf"\r\n'
            'Content-Disposition: attachment; filename="scans.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    tail = b"--b1--\r\n"
    raw = max(size - len(head) - len(tail), 0) * 57 // 78   # base64 lines: 76 + CRLF
    encoded = base64.encodebytes(rng.randbytes(raw)).replace(b"\n", b"\r\n")
    return head + encoded + tail


def mixed_stream(count: int, seed: int = 21, contents: str = "") -> list[bytes]:
    """COUNT messages in the bands' shares (exact counts, so a short run has its large
    ones too), shuffled, the same every run. The sizes depend on SEED alone, the bytes
    also on CONTENTS: streams of other CONTENTS have the same sizes and no part alike."""
    rng = random.Random(seed)
    sizes: list[int] = []
    for share, low, high in MIXED_BANDS:
        band = max(1, round(count * share))
        sizes += [int(low * (high / low) ** rng.random()) for _ in range(band)]
    sizes = sizes[:count]
    rng.shuffle(sizes)
    content = random.Random(f"{seed}:{contents}")
    # text_message's size is its text's: about 200 bytes of headers and a CRLF every 76
    # characters come on top.
    return [text_message((size - 200) * 76 // 78, reference=f"{contents}-{number}")
            if size < 10 * KB else with_attachment(size, content, reference=f"{contents}-{number}")
            for number, size in enumerate(sizes)]


@dataclass(frozen=True)
class Sample:
    name: str
    spam: bool
    message: bytes        # with the Received header Postfix would have added
    envelope: Envelope


def received(envelope: Envelope) -> bytes:
    """Postfix's own Received header, which the milter is shown first (rspamd scores a
    Postfix header of any other form as INVALID_POSTFIX_RECEIVED, 3 points)."""
    name = envelope.client_name or "unknown"
    return (f"Received: from {envelope.helo} ({name} [{envelope.client_address}])\r\n"
            f"\tby mail.example.net (Postfix) with ESMTP id {envelope.queue_id}\r\n"
            f"\tfor <{envelope.recipients[0]}>; {now()} (UTC)\r\n").encode()


def now(ago: float = 0) -> str:
    """An RFC 5322 date of the run (a dated message's age is scored by both engines)."""
    return formatdate(time.time() - ago).replace("-0000", "+0000")


def _sample(name: str, spam: bool, message: bytes | EmailMessage, sender: str,
            address: str, helo: str, client_name: str, queue_id: str) -> Sample:
    raw = message if isinstance(message, bytes) else message.as_bytes()
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    envelope = Envelope(sender, ("bob@example.net",), address, helo, client_name, None,
                        queue_id)
    return Sample(name, spam, received(envelope) + raw, envelope)


def _ham(name: str, message: bytes | EmailMessage, queue_id: str) -> Sample:
    """From the outside domain's own mail host (SPF passes, its names resolve)."""
    return _sample(name, False, message, OUTSIDE_SENDER, OUTSIDE_IP, OUTSIDE_MAIL_HOST,
                   OUTSIDE_MAIL_HOST, queue_id)


def _spam(name: str, message: bytes | EmailMessage, sender: str, queue_id: str) -> Sample:
    """From an address with no reverse name, a HELO of nothing real, a domain that does
    not resolve: what spam from a botnet looks like offline."""
    return _sample(name, True, message, sender, "203.0.113.9", "User", "", queue_id)


def _email(sender: str, to: str, subject: str, text: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def detection_corpus() -> list[Sample]:
    """Five plain messages from the outside domain's mail host and five obvious spams
    (GTUBE among them) from a host without a name; queue ids as Postfix makes them."""
    dated = {"Date": now(ago=120)}
    hams = [
        _ham("ham: lunch (personal)", _email(
            f"Carol Jones <{OUTSIDE_SENDER}>", "Bob <bob@example.net>", "Lunch on Thursday",
            "Hi Bob,\n\nare we still on for lunch on Thursday? The new place near the "
            "station opens at noon.\nI can book a table for two.\n\nCarol\n",
            Message_ID=f"<20261130.1@{OUTSIDE_DOMAIN}>", **dated), "4A1B2C3D01"),
        _ham("ham: quarterly report (2 KB)",
             text_message(2048, recipient="bob@example.net", date=now(ago=120)),
             "4A1B2C3D02"),
        _ham("ham: reply in a thread", _email(
            f"Carol Jones <{OUTSIDE_SENDER}>", "Bob <bob@example.net>",
            "Re: invoice 2026-114", "Hi Bob,\n\nthanks, the corrected invoice arrived. I "
            "passed it on to accounting; payment goes out with the next run on the 5th.\n\n"
            "Carol\n\n> Hi Carol, attached is the corrected invoice 2026-114, the VAT line\n"
            "> was wrong in the first one. Sorry about that.\n> Bob\n",
            Message_ID=f"<20261130.3@{OUTSIDE_DOMAIN}>",
            In_Reply_To="<20261129.77@example.net>",
            References="<20261129.77@example.net>", **dated), "4A1B2C3D03"),
        _ham("ham: club newsletter (HTML)", _newsletter(dated), "4A1B2C3D04"),
        _ham("ham: German, UTF-8", _email(
            f"Carol Jones <{OUTSIDE_SENDER}>", "Bob <bob@example.net>",
            "Termin für die Übergabe", "Hallo Bob,\n\npasst dir Dienstag um 14 Uhr für die "
            "Schlüsselübergabe? Ich bringe die Zählerstände und das Übergabeprotokoll mit.\n"
            "\nViele Grüße\nCarol\n", Message_ID=f"<20261130.5@{OUTSIDE_DOMAIN}>", **dated),
            "4A1B2C3D05"),
    ]
    spams = [
        _spam("spam: GTUBE", _email("someone@remote.example", "bob@example.net", "test",
                                    f"This is the GTUBE:\n\n{GTUBE}\n\n"),
              "someone@remote.example", "4B1B2C3D01"),
        _spam("spam: prize, PayPal link to an IP", OBVIOUS_SPAM, "winner@spammer.invalid",
              "4B1B2C3D02"),
        _spam("spam: advance fee (419)", _email(
            "Barrister James Okoro <jokoro.chambers@spammer.invalid>", "bob@example.net",
            "URGENT BUSINESS PROPOSAL - STRICTLY CONFIDENTIAL",
            "Dear Friend,\n\nI am Barrister James Okoro, personal attorney to the late Mr. "
            "Robert Bob, a foreign contractor who died with his entire family in a plane "
            "crash. He left the sum of US$15,500,000.00 (FIFTEEN MILLION FIVE HUNDRED "
            "THOUSAND UNITED STATES DOLLARS) in a security company. As his next of kin, you "
            "will receive 40% of the total fund once the transfer is completed. This "
            "transaction is 100% risk free. Kindly send me your full name, bank account "
            "number and telephone number so that the fund can be released to you.\n\nPlease "
            "treat this matter as strictly confidential.\n\nBarrister James Okoro\n",
            Reply_To="jokoro.private@freemail.invalid"), "jokoro.chambers@spammer.invalid",
            "4B1B2C3D03"),
        _spam("spam: pharmacy", _email(
            "Online Pharmacy <sales@spammer.invalid>", "bob@example.net",
            "V1AGRA & C1ALIS - 80% OFF, NO PRESCRIPTION!!!",
            "Cheap Viagra, Cialis, Levitra, Xanax, Valium. No prescription needed! "
            "Lowest prices guaranteed, discreet worldwide shipping.\n\nBuy now: "
            "http://198.51.100.7/pharmacy/?ref=bob\n\nBest quality generic meds, 100% "
            "satisfaction. Order today and get free pills!\n\nTo unsubscribe reply REMOVE\n"),
            "sales@spammer.invalid", "4B1B2C3D04"),
        _spam("spam: account phishing", _phishing(), "security@spammer.invalid", "4B1B2C3D05"),
    ]
    return hams + spams


# Undisclosed recipients, no Date or Message-ID, a shouting base64 subject, and a link
# whose text names PayPal but which leads to a bare IP address (tests' rspamd corpus).
OBVIOUS_SPAM = (b"From: \"BEST OFFER\" <winner@spammer.invalid>\r\n"
                b"To: undisclosed-recipients:;\r\n"
                b"Subject: =?utf-8?B?WU9VIEhBVkUgV09OICQxLDAwMCwwMDAhISE=?=\r\n"
                b"MIME-Version: 1.0\r\n"
                b"Content-Type: text/html; charset=utf-8\r\n\r\n"
                b"<html><body><p>CONGRATULATIONS!!! YOU HAVE WON $1,000,000 USD!!! CLICK "
                b"NOW\r\n<a href=\"http://198.51.100.7/claim.php?id=123\">"
                b"https://www.paypal.com/verify</a>\r\nSend your bank account details to "
                b"claim your prize. 100% FREE!!!</p></body></html>\r\n")


def _newsletter(dated: dict[str, str]) -> EmailMessage:
    message = _email(f"Riverside Rowing Club <{OUTSIDE_SENDER}>", "bob@example.net",
                     "Club news: winter training starts 7 December",
                     "Winter training starts on 7 December, Mondays and Thursdays at 18:00 "
                     "in the boathouse. The annual meeting is on 12 January.\n\n"
                     f"Unsubscribe: https://www.{OUTSIDE_DOMAIN}/unsubscribe\n",
                     Message_ID=f"<20261130.4@{OUTSIDE_DOMAIN}>",
                     List_Unsubscribe=f"<https://www.{OUTSIDE_DOMAIN}/unsubscribe>", **dated)
    message.add_alternative(
        "<html><body><h1>Club news</h1><p>Winter training starts on 7 December, Mondays "
        "and Thursdays at 18:00 in the boathouse.</p><p>The annual meeting is on "
        "12 January.</p><p><a href=\"https://www.outside.example/unsubscribe\">"
        "Unsubscribe</a></p></body></html>\n", subtype="html")
    return message


def _phishing() -> EmailMessage:
    message = _email("PayPal Security <security@spammer.invalid>", "bob@example.net",
                     "Your account has been limited",
                     "Dear Customer,\n\nWe have noticed unusual activity on your account and "
                     "it has been limited. To restore full access you must verify your "
                     "identity within 24 hours, or your account will be permanently "
                     "suspended.\n\nVerify now: http://198.51.100.23/paypal.com/login\n\n"
                     "PayPal Security Team\n")
    message.add_alternative(
        "<html><body><p>Dear Customer,</p><p>We have noticed unusual activity on your "
        "account and it has been limited. To restore full access you must verify your "
        "identity within 24 hours, or your account will be permanently suspended.</p>"
        "<p><a href=\"http://198.51.100.23/paypal.com/login\">"
        "https://www.paypal.com/signin</a></p><p>PayPal Security Team</p></body></html>\n",
        subtype="html")
    return message
