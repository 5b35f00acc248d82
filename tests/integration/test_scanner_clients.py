"""The spamd and clamd clients against the stack's real spamd and clamd."""

import io
import socket

import pytest

from mailbasic.devstack.clamd import EICAR
from mailbasic.scanners.clamd import ClamdError, ClamdSession, ClamdSessions, Verdict
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


def scans_recorded(used: list):
    """A message's scans (harmless text, then EICAR), noting the session they went over."""
    def scans(session):
        used.append(session)
        return [session.scan([b"harmless text"]).verdict, session.scan([EICAR]).verdict]
    return scans


@pytest.fixture
def sessions(clamd):
    kept = ClamdSessions("127.0.0.1", clamd.ports.clamd, timeout=30)
    yield kept
    kept.close()


def test_clamd_sessions_are_kept_between_messages(sessions):
    used: list[ClamdSession] = []
    first = sessions.run(scans_recorded(used))
    second = sessions.run(scans_recorded(used))
    assert first == second == [Verdict.CLEAN, Verdict.INFECTED]
    assert used[0] is used[1]
    assert used[1].requests == 4   # clamd numbered the second message's replies 3 and 4


def test_a_kept_session_clamd_ended_meanwhile_is_replaced(sessions, monkeypatch):
    used: list[ClamdSession] = []
    sessions.run(scans_recorded(used))
    used[0].connection.sendall(b"zEND\0")   # clamd ends the session, closes the socket
    used[0].connection.settimeout(10)
    assert used[0].connection.recv(1, socket.MSG_PEEK) == b""   # closed by now
    # The close arriving just after the look at the idle session: its scan finds it.
    monkeypatch.setattr(ClamdSession, "still_open", lambda session: True)
    assert sessions.run(scans_recorded(used)) == [Verdict.CLEAN, Verdict.INFECTED]
    assert used[1] is used[0] and used[2] is not used[0]
    assert used[0].closed_by_clamd and used[2].answered == 2
    # The new session had what was left of the message's budget, not a new one.
    assert abs(used[2].deadline.expires - used[0].deadline.expires) < 0.05


def test_nothing_is_kept_once_the_sessions_are_closed(sessions):
    used: list[ClamdSession] = []
    sessions.close()
    assert sessions.run(scans_recorded(used)) == [Verdict.CLEAN, Verdict.INFECTED]
    assert sessions._idle == []


def test_a_session_idle_too_long_is_not_taken(sessions, monkeypatch):
    monkeypatch.setattr(ClamdSessions, "IDLE_SECONDS", 0.0)
    used: list[ClamdSession] = []
    sessions.run(scans_recorded(used))
    assert sessions.run(scans_recorded(used)) == [Verdict.CLEAN, Verdict.INFECTED]
    assert used[0] is not used[1] and used[1].requests == 2


def test_clamd_down_is_an_error(stack):
    with pytest.raises(ClamdError):
        ClamdSession("127.0.0.1", 1, timeout=2)
