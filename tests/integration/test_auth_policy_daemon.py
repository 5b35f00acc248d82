"""`mailbasic auth-policy` as Dovecot talks to it: JSON requests POSTed to the running
daemon over loopback HTTP, answered from the stack's PostgreSQL. The stack's limits
(tests/conftest.py): 3 free failures, delays up to 4 s, a block at 10 failures for a
client, an IPv6 /64 or an account. Each test uses addresses and logins of its own."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mailbasic import db
from mailbasic.config import render_settings
from mailbasic.devstack import HOST
from mailbasic.devstack.process import free_port, wait_until

BLOCK_AT = 10


def ask(stack, command: str, login: str, remote: str, connection=None, **extra) -> tuple:
    """(HTTP status, answer or None) for one request, as Dovecot 2.3 sends it."""
    body = json.dumps({"login": login, "protocol": extra.pop("protocol", "imap"),
                       "pwhash": extra.pop("pwhash", uuid.uuid4().hex[:8]),
                       "remote": remote, "session_id": "test", **extra,
                       "tls": True}).encode()
    client = connection or http.client.HTTPConnection(HOST, stack.ports.auth_policy,
                                                      timeout=10)
    client.request("POST", f"/?command={command}", body,
                   {"Content-Type": "application/json"})
    reply = client.getresponse()
    data = reply.read()
    if connection is None:
        client.close()
    return reply.status, (json.loads(data) if data else None)


def allow(stack, login: str, remote: str) -> int:
    status, answer = ask(stack, "allow", login, remote)
    assert status == 200
    return answer["status"]


def fail(stack, login: str, remote: str, **extra) -> None:
    assert ask(stack, "report", login, remote, success=False, policy_reject=False,
               **extra)[0] == 204


def succeed(stack, login: str, remote: str) -> None:
    assert ask(stack, "report", login, remote, success=True, policy_reject=False)[0] == 204


def unique_login() -> str:
    return f"target{uuid.uuid4().hex[:8]}@example.net"


def test_failures_grow_a_delay_then_block_the_client(auth_policy):
    login, attacker = unique_login(), "198.51.100.21"
    answers = []
    for _ in range(BLOCK_AT):
        answers.append(allow(auth_policy, login, attacker))
        fail(auth_policy, login, attacker)
    assert answers == [0, 0, 0, 0, 1, 2, 4, 4, 4, 4]
    _, answer = ask(auth_policy, "allow", f"other-{login}", attacker)
    assert answer["status"] == -1 and "Too many failed logins" in answer["msg"]
    log = auth_policy.auth_policy.logfile.read_text()
    assert f"verdict=block status=- protocol=imap client={attacker} login=<{login}> " \
           f"reason=client {attacker} blocked until" in log
    assert f"verdict=refuse status=-1 protocol=imap client={attacker} " \
           f"login=<other-{login}>" in log


def test_the_owner_s_usual_network_is_not_held_back_by_the_account_s_failures(
        auth_policy):
    login, owner, new_place = unique_login(), "203.0.113.31", "203.0.113.32"
    succeed(auth_policy, login, owner)              # the owner's usual address
    for number in range(BLOCK_AT):                  # a botnet, one try per address
        fail(auth_policy, login, f"192.0.2.{100 + number}")
    assert allow(auth_policy, login, owner) == 0
    assert allow(auth_policy, login, new_place) == -1      # the account is blocked
    assert allow(auth_policy, unique_login(), new_place) == 0   # for that account only


def test_the_right_password_forgets_the_client_s_failures_not_the_account_s(auth_policy):
    login, client = unique_login(), "198.51.100.41"
    for _ in range(5):
        fail(auth_policy, login, client)
    assert allow(auth_policy, login, client) == 2
    succeed(auth_policy, login, client)
    assert allow(auth_policy, login, client) == 0           # and now a known client
    assert allow(auth_policy, login, "198.51.100.42") == 2  # the account's count stays


def test_an_ipv6_network_is_blocked_as_one_client(auth_policy):
    login = unique_login()
    for number in range(1, BLOCK_AT + 1):           # a new address for every try
        fail(auth_policy, login + "x", f"2001:db8:41:7::{number:x}")
    assert allow(auth_policy, login, "2001:db8:41:7:ffff::1") == -1
    assert allow(auth_policy, login, "2001:db8:41:8::1") == 0


def test_refused_tries_and_a_repeated_password_are_not_counted(auth_policy):
    login, client = unique_login(), "198.51.100.51"
    for _ in range(5):                              # a phone with an old password
        fail(auth_policy, login, client, pwhash="5a17c0de")
    assert allow(auth_policy, login, client) == 0
    for _ in range(5):                              # refused by us: nothing was checked
        assert ask(auth_policy, "report", login, client, success=False,
                   policy_reject=True)[0] == 204
    assert allow(auth_policy, login, client) == 0


def test_many_requests_on_one_connection_and_a_request_in_single_bytes(auth_policy):
    connection = http.client.HTTPConnection(HOST, auth_policy.ports.auth_policy, timeout=10)
    for _ in range(3):                              # Dovecot keeps its connections open
        assert ask(auth_policy, "allow", unique_login(), "198.51.100.61",
                   connection)[1] == {"status": 0, "msg": ""}
    connection.close()
    body = b'{"login":"x@example.net","remote":"198.51.100.62","tls":true}'
    request = (b"POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
               b"\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    with socket.create_connection((HOST, auth_policy.ports.auth_policy), timeout=10) as raw:
        for byte in request:
            raw.send(bytes([byte]))
        reply = b"".join(iter(lambda: raw.recv(4096), b""))
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b'{"status": 0, "msg": ""}')


@pytest.mark.parametrize(("path", "body"), [
    ("/?command=deny", b'{"login": "x"}'),
    ("/?command=allow", b"not json"),
    ("/?command=report", b'{"login": "x", "remote": "192.0.2.1"}'),
])
def test_what_is_not_dovecot_s_is_refused_with_400(auth_policy, path, body):
    client = http.client.HTTPConnection(HOST, auth_policy.ports.auth_policy, timeout=10)
    client.request("POST", path, body)
    reply = client.getresponse()
    assert reply.status == 400 and json.loads(reply.read())["status"] == -1
    client.close()


def test_connections_the_database_dropped_cost_no_login(auth_policy):
    """No pre-ping: a pooled connection found dead is tried once more, on a fresh one."""
    for _ in range(3):
        assert allow(auth_policy, unique_login(), "198.51.100.71") == 0
    engine = db.make_engine(auth_policy.daemon_settings)   # its role may end its own
    with engine.begin() as connection:
        dropped = connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'mailbasic auth-policy'").scalar_one()
    engine.dispose()
    assert dropped >= 1
    assert allow(auth_policy, unique_login(), "198.51.100.71") == 0
    fail(auth_policy, unique_login(), "198.51.100.72")


def test_without_its_database_it_answers_503(auth_policy, tmp_path):
    """A second daemon whose database does not answer: Dovecot (reject_on_fail) refuses
    the login on anything but a 2xx answer."""
    port = free_port()
    config = Path(tmp_path) / "auth-policy.toml"
    config.write_text(render_settings(auth_policy.daemon_settings).replace(
        f"127.0.0.1:{auth_policy.ports.postgres}", f"127.0.0.1:{free_port()}").replace(
        f"inet:{auth_policy.ports.auth_policy}@", f"inet:{port}@"))
    daemon = subprocess.Popen([str(Path(sys.executable).with_name("mailbasic")), "--config",
                               str(config), "auth-policy"], stderr=subprocess.PIPE)
    try:
        wait_until(lambda: listening(port), what="the second auth-policy", timeout=30)
        client = http.client.HTTPConnection(HOST, port, timeout=15)
        client.request("POST", "/?command=allow", b'{"login": "x@example.net"}')
        reply = client.getresponse()
        assert reply.status == 503 and json.loads(reply.read())["status"] == -1
        client.close()
    finally:
        daemon.terminate()
        _, errors = daemon.communicate(timeout=30)
    assert b"stage=allow verdict=none status=- protocol=- client=- login=<x@example.net> " \
           b"reason=database unavailable" in errors


def listening(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1):
        return True
