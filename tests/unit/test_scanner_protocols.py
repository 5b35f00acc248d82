"""Scanner clients against peers that misbehave: garbage, silence, early close.

These peers are tiny TCP servers in a thread that each break the protocol in one way;
the real spamd and clamd are exercised in tests/integration.
"""

import io
import socket
import threading
import time

import pytest

from mailbasic.scanners import clamd, spamd


class Peer:
    """Accepts one connection, reads until `read_until` (or EOF), then answers."""

    def __init__(self, answer: bytes, read_until: bytes | None = None, delay: float = 0,
                 close_without_answer: bool = False) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answer, self.read_until, self.delay = answer, read_until, delay
        self.close_without_answer = close_without_answer
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
                if self.read_until and self.read_until in received:
                    break
            if self.close_without_answer:
                return
            time.sleep(self.delay)
            try:
                connection.sendall(self.answer)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture(autouse=True)
def peers(monkeypatch):
    """Close every peer a test made, whatever happened."""
    made = []
    original = Peer.__init__

    def tracked(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Peer, "__init__", tracked)
    yield
    for peer in made:
        peer.close()


def check(peer: Peer, timeout: float = 2):
    return spamd.SpamdClient("127.0.0.1", peer.port, timeout).check(io.BytesIO(b"x"), 1, "u")


@pytest.mark.parametrize("answer", [
    b"",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"SPAMD/1.1 0 EX_OK\r\nSpam: maybe ; x / y\r\n\r\n",
    b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n",
    b"SPAMD/1.1 76 Bad header line\r\n\r\n",
    b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 5.0 / 5.0\r\n\r\nGOOD,<script>\r\n",
    b"\xff\xfe\x00\x01" * 100,
])
def test_spamd_garbage_is_an_error(answer):
    with pytest.raises(spamd.SpamdError):
        check(Peer(answer))


def test_spamd_silence_times_out_within_the_budget():
    started = time.monotonic()
    with pytest.raises(spamd.SpamdError, match=r"timed out|within"):
        check(Peer(b"SPAMD/1.1 0 EX_OK\r\n\r\n", delay=1.5), timeout=0.5)
    assert time.monotonic() - started < 2


def test_spamd_answer_parsing():
    report = spamd.parse_answer(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 20\r\n"
                                b"Spam: True ; 1004.2 / 5.0\r\n\r\nGTUBE,NO_RECEIVED\r\n")
    assert report == spamd.SpamReport(True, 1004.2, 5.0, ("GTUBE", "NO_RECEIVED"))
    report = spamd.parse_answer(b"SPAMD/1.5 0 EX_OK\r\nSpam: False ; -1.5 / 5.0\r\n\r\n")
    assert report == spamd.SpamReport(False, -1.5, 5.0, ())


def scan(peer: Peer, timeout: float = 2):
    with clamd.ClamdSession("127.0.0.1", peer.port, timeout) as session:
        return session.scan([b"data"])


@pytest.mark.parametrize("answer", [
    b"stream: OK\0",             # no request number, though in a session
    b"2: stream: OK\0",          # the wrong request number
    b"1: stream: WHATEVER\0",
    b"1: " + b"A" * 5000,        # never terminated
])
def test_clamd_garbage_is_an_error(answer):
    with pytest.raises(clamd.ClamdError):
        scan(Peer(answer, read_until=b"\0\0\0\0"))


def test_clamd_closing_without_answer_is_an_error():
    with pytest.raises(clamd.ClamdError, match="closed"):
        scan(Peer(b"", read_until=b"\0\0\0\0", close_without_answer=True))


def test_a_session_clamd_answered_with_an_error_is_not_kept():
    peer = Peer(b"1: INSTREAM size limit exceeded. ERROR\0", read_until=b"\0\0\0\0")
    sessions = clamd.ClamdSessions("127.0.0.1", peer.port, 2)
    result = sessions.run(lambda session: session.scan([b"data"]))
    assert result.verdict is clamd.Verdict.UNSCANNABLE
    assert sessions._idle == []


def test_a_session_that_timed_out_is_not_kept():
    peer = Peer(b"1: stream: OK\0", read_until=b"\0\0\0\0", delay=1.5)
    sessions = clamd.ClamdSessions("127.0.0.1", peer.port, 0.5)
    with pytest.raises(clamd.ClamdError, match=r"timed out|within"):
        sessions.run(lambda session: session.scan([b"data"]))
    assert sessions._idle == []


def test_clamd_silence_times_out():
    with pytest.raises(clamd.ClamdError, match=r"timed out|within"):
        scan(Peer(b"1: stream: OK\0", read_until=b"\0\0\0\0", delay=1.5), timeout=0.5)


@pytest.mark.parametrize("answer, verdict, detail", [
    (b"1: stream: OK\0", clamd.Verdict.CLEAN, None),
    (b"1: stream: Win.Test.EICAR_HDB-1 FOUND\0", clamd.Verdict.INFECTED, "Win.Test.EICAR_HDB-1"),
    (b"1: stream: Heuristics.Encrypted.Zip FOUND\0", clamd.Verdict.UNSCANNABLE,
     "Heuristics.Encrypted.Zip"),
    (b"1: stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0",
     clamd.Verdict.UNSCANNABLE, "Heuristics.Limits.Exceeded.MaxFileSize"),
    (b"1: INSTREAM size limit exceeded. ERROR\0", clamd.Verdict.UNSCANNABLE,
     "INSTREAM size limit exceeded."),
])
def test_clamd_verdicts(answer, verdict, detail):
    assert scan(Peer(answer, read_until=b"\0\0\0\0")) == clamd.ScanResult(verdict, detail)
