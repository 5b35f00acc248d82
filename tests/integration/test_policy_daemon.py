"""The policy daemon over a real socket and a real PostgreSQL: golden request/answer
files replayed with chunks of 4096, 128, 16 and 1 bytes; garbage; database failure."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbasic.config import MIB
from mailbasic.devstack.process import free_port
from mailbasic.directory import USAGE_SECONDS
from mailbasic.policy.server import make_server

GOLDEN = Path(__file__).parent.parent / "policy_golden"
CASES = sorted(path.stem for path in GOLDEN.glob("*.in"))
PASSWORD = "a long secret\n"


@pytest.fixture
def accounts(cli, engine):
    """alice (+ alias, catch-all of example.org), bobby (inactive), carol (full)."""
    cli.ok("domain", "add", "example.net")
    cli.ok("domain", "add", "example.org")
    for name in ("alice", "bobby", "carol"):
        cli.ok("customer", "add", name, "--domain", "example.net", "--password-stdin",
               input=PASSWORD)
    cli.ok("address", "add", "alice.smith@example.net", "--mailbox", "alice@example.net")
    cli.ok("domain", "catch-all", "example.org", "alice@example.net")
    cli.ok("mailbox", "deactivate", "bobby@example.net", "--reason", "90 days")
    cli.ok("mailbox", "quota", "carol@example.net", "1000")
    with engine.begin() as connection:  # what Dovecot's quota dict writes
        connection.execute(text("INSERT INTO quota_usage (username, bytes, messages) "
                                "VALUES ('carol@example.net', 900, 3)"))
    return cli


def serve(settings):
    settings = replace(settings, policy_socket=f"inet:{free_port()}@127.0.0.1",
                       rate_messages_per_hour=2, rate_recipients_per_hour=4,
                       policy_cache_seconds=0.5)
    server = make_server(settings)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def daemon(settings, accounts):
    server, thread = serve(settings)
    yield server.server_address
    server.shutdown()
    server.server_close()
    thread.join()


def exchange(address, payload: bytes, chunk: int, answers: int) -> list[str]:
    with socket.create_connection(address, timeout=10) as connection:
        for start in range(0, len(payload), chunk):
            connection.sendall(payload[start:start + chunk])
        received = b""
        while received.count(b"\n\n") < answers:
            piece = connection.recv(chunk)
            if not piece:
                break
            received += piece
    return [block.removeprefix(b"action=").decode() for block in received.split(b"\n\n")
            if block]


@pytest.mark.parametrize("chunk", [4096, 128, 16, 1])
@pytest.mark.parametrize("case", CASES)
def test_golden(daemon, case, chunk):
    expected = (GOLDEN / f"{case}.ref").read_text().splitlines()
    payload = (GOLDEN / f"{case}.in").read_bytes()
    assert exchange(daemon, payload, chunk, len(expected)) == expected


def closed_without_answer(address, payload: bytes) -> bool:
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(payload)
        try:
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return connection.recv(1024) == b""


@pytest.mark.parametrize("garbage", [
    b"protocol_state=RCPT\nrecipient=alice@example.net\n\n",              # no request=
    b"request=smtpd_access_policy\n" + b"x" * 5000 + b"=1\n\n",            # overlong line
    b"request=smtpd_access_policy\nrecipient=\xff\xfe\x00\n\n",            # binary bytes
    b"request=smtpd_access_policy\nprotocol_state=RCPT\n",                  # no blank line
    b"request=smtpd_access_policy\njust some words\n\n",                    # not name=value
    b"\n",                                                                  # empty request
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
])
def test_garbage_closes_the_connection_and_the_daemon_lives_on(daemon, garbage):
    assert closed_without_answer(daemon, garbage)
    payload = (GOLDEN / "deliverable.in").read_bytes()
    assert exchange(daemon, payload, 4096, 4) == ["DUNNO"] * 4


def test_many_requests_on_one_persistent_connection(daemon):
    payload = (GOLDEN / "unknown_recipient.in").read_bytes() * 200
    assert exchange(daemon, payload, 4096, 200) == ["550 5.1.1 No such mailbox here"] * 200


def test_database_down_closes_without_answering(settings, accounts):
    server, thread = serve(replace(settings,
                                   database_url="postgresql+psycopg2://x:y@127.0.0.1:1/z"))
    try:
        assert closed_without_answer(server.server_address,
                                     (GOLDEN / "unknown_recipient.in").read_bytes())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_cli_change_takes_effect_within_the_cache_time(daemon, cli):
    request = (GOLDEN / "deliverable.in").read_bytes().split(b"\n\n")[0] + b"\n\n"
    assert exchange(daemon, request, 4096, 1) == ["DUNNO"]
    cli.ok("mailbox", "deactivate", "alice@example.net")
    deadline = time.monotonic() + 5
    while exchange(daemon, request, 4096, 1) == ["DUNNO"]:
        assert time.monotonic() < deadline, "deactivation not seen within 5 s"
        time.sleep(0.1)
    assert exchange(daemon, request, 4096, 1)[0].startswith("550 5.2.1")


def test_rate_counters_survive_a_restart(settings, accounts):
    request = (GOLDEN / "rate_limit.in").read_bytes().split(b"\n\n")[0] + b"\n\n"
    answers = []
    for _ in range(2):  # two daemons one after the other, the same database
        server, thread = serve(settings)
        answers += exchange(server.server_address, request * 3, 4096, 3)
        server.shutdown()
        server.server_close()
        thread.join()
    assert answers[:4] == ["DUNNO"] * 4
    assert answers[4].startswith("450 4.7.1")


def set_usage(engine, login: str, used: int) -> None:
    with engine.begin() as connection:  # what Dovecot's quota dict writes
        connection.execute(text(
            "INSERT INTO quota_usage (username, bytes, messages) VALUES (:login, :used, 1) "
            "ON CONFLICT (username) DO UPDATE SET bytes = EXCLUDED.bytes"),
            {"login": login, "used": used})


def sized_request(size: int) -> bytes:
    request = (GOLDEN / "deliverable.in").read_bytes().split(b"\n\n")[0] + b"\n\n"
    return request.replace(b"size=0", f"size={size}".encode())


def test_quota_usage_near_the_limit_is_always_read_fresh(daemon, cli, engine):
    """A reading a moment old (USAGE_SECONDS) serves only while the mailbox is more than
    twice the size limit (40 MB) below its quota; nearer, each check reads the usage."""
    cli.ok("mailbox", "quota", "alice@example.net", "100M")
    request = sized_request(1000)
    set_usage(engine, "alice@example.net", 70 * MIB)        # within 40 MB of 100 MB
    deadline = time.monotonic() + 5
    while exchange(daemon, request, 4096, 1) != ["DUNNO"]:  # the new quota, once cached
        assert time.monotonic() < deadline
        time.sleep(0.1)
    set_usage(engine, "alice@example.net", 100 * MIB - 500)
    assert exchange(daemon, request, 4096, 1)[0].startswith("552 5.2.2")
    set_usage(engine, "alice@example.net", 10 * MIB)
    assert exchange(daemon, request, 4096, 1) == ["DUNNO"]


def test_quota_usage_far_below_the_limit_is_at_most_a_moment_old(daemon, cli, engine):
    cli.ok("mailbox", "quota", "alice@example.net", "100M")
    request = sized_request(1000)
    set_usage(engine, "alice@example.net", 10 * MIB)
    time.sleep(1)  # policy.cache_seconds here: the new quota is seen
    assert exchange(daemon, request, 4096, 1) == ["DUNNO"]
    set_usage(engine, "alice@example.net", 100 * MIB)
    time.sleep(USAGE_SECONDS + 0.1)
    assert exchange(daemon, request, 4096, 1)[0].startswith("552 5.2.2")
