"""The spamd and clamd clients against the stack's real spamd and clamd."""

import io

import pytest

from mailbasic.devstack.clamd import EICAR
from mailbasic.scanners.clamd import ClamdError, ClamdSession, Verdict
from mailbasic.scanners.spamd import SpamdClient, SpamdError
from tests.corpus import GTUBE, encrypted_zip, mail, zipped


def spamd_check(stack, raw: bytes):
    client = SpamdClient("127.0.0.1", stack.ports.spamd, timeout=30)
    return client.check(io.BytesIO(raw), len(raw), "alice@example.net")


def test_gtube_is_spam_with_test_names(spamd):
    report = spamd_check(spamd, mail("spam", GTUBE).as_bytes())
    assert report.is_spam and report.score >= 1000 and report.threshold == 5.0
    assert "GTUBE" in report.tests


def test_plain_mail_is_ham(spamd):
    report = spamd_check(spamd,
                         mail("hello", "Shall we meet for lunch tomorrow at noon?\n").as_bytes())
    assert not report.is_spam and report.score < 5


def test_spamd_refuses_unsafe_user_names(spamd):
    client = SpamdClient("127.0.0.1", spamd.ports.spamd, timeout=5)
    with pytest.raises(ValueError):
        client.check(io.BytesIO(b"x"), 1, "evil\r\nUser: root")


def test_spamd_down_is_an_error(stack):
    client = SpamdClient("127.0.0.1", 1, timeout=2)
    with pytest.raises(SpamdError):
        client.check(io.BytesIO(b"x"), 1, "someone")


def test_many_scans_over_one_clamd_session(clamd):
    with ClamdSession("127.0.0.1", clamd.ports.clamd, timeout=30) as session:
        clean = session.scan([b"harmless text"])
        virus = session.scan([EICAR])
        in_zip = session.scan([zipped("eicar.com", EICAR)])
        chunked = session.scan([EICAR[:10], EICAR[10:]])
        big = session.scan([b"a" * 200_000, EICAR])  # several 64 KiB chunks
        encrypted = session.scan([encrypted_zip()])
    assert clean.verdict is Verdict.CLEAN
    for result in (virus, in_zip, chunked, big):
        assert result.verdict is Verdict.INFECTED
        assert result.detail.startswith("Eicar-Test-Signature")
    assert encrypted.verdict is Verdict.UNSCANNABLE
    assert "Encrypted" in encrypted.detail


def test_clamd_down_is_an_error(stack):
    with pytest.raises(ClamdError):
        ClamdSession("127.0.0.1", 1, timeout=2)
