"""rspamd as Ansible deployed it (the second spam engine, spam.engine = "rspamd"): its
normal worker on loopback answers the milter's client, offline (no module that needs the
internet), at once rather than after DNS timeouts."""

from __future__ import annotations

import io
import time

from mailbasic.scanners.rspamd import Envelope, RspamdClient

GTUBE = (b"From: someone@example.org\r\nTo: alice@example.net\r\nSubject: test\r\n\r\n"
         b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n")


def test_rspamd_scores_gtube_at_once():
    client = RspamdClient("127.0.0.1", 11333, timeout=10.0)
    envelope = Envelope(sender="someone@example.org", recipients=("alice@example.net",),
                        client_address="192.0.2.1", helo="mail.example.org")
    started = time.monotonic()
    result = client.check(io.BytesIO(GTUBE), len(GTUBE), envelope)
    assert time.monotonic() - started < 5
    assert "GTUBE" in result.symbols and result.score >= 15
