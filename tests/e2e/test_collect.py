"""POP3 collection against a second, real Dovecot POP3 server (the external provider):
over implicit TLS, STARTTLS and plain; into the mailbox through the real Postfix and
milter; a wrong password, a TLS failure, and a connection dropped in the middle of a
retrieve. Nothing is fetched twice, nothing is lost."""

from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbasic import db
from mailbasic.config import render_settings
from mailbasic.devstack.remote_pop3 import RemotePop3
from tests.conftest import Cli
from tests.corpus import GTUBE
from tests.loopback import LoopbackServer

DOMAIN = "collect.example"
MAILBASIC = str(Path(sys.executable).parent / "mailbasic")
REMOTE_USERS = {"anna@provider.example": "anna's provider secret",
                "ben@provider.example": "ben's provider secret",
                "cleo@provider.example": "cleo's provider secret",
                "dora@provider.example": "dora's provider secret",
                "eve@provider.example": "eve's provider secret",
                "fred@provider.example": "fred's provider secret",
                "gail@provider.example": "gail's provider secret",
                "hank@provider.example": "hank's provider secret",
                "ida@provider.example": "ida's provider secret",
                "lisa@provider.example": "lisa's provider secret"}
MIB = 1024**2


@pytest.fixture(scope="module")
def remote(postfix):
    directory = Path(tempfile.mkdtemp(prefix="mailbasic-remote-pop3-"))
    directory.chmod(0o755)
    server = RemotePop3(directory, postfix.certificates)
    server.launch(REMOTE_USERS)
    yield server
    server.stop()
    shutil.rmtree(directory)


@pytest.fixture(scope="module")
def collecting(postfix, remote, tmp_path_factory):
    """Settings with a collection key, trusting the stack's CA (the remote's certificate),
    allowed to reach the remote server on loopback."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    settings = replace(postfix.settings, bcrypt_cost=4, collect_key=key,
                       collect_smtp_port=postfix.ports.smtp, collect_timeout=5.0,
                       collect_ca_file=str(postfix.certificates.ca),
                       collect_allowed_networks=("127.0.0.1/32",),
                       collect_allowed_ports=(remote.pop3_port, remote.pop3s_port))
    directory = tmp_path_factory.mktemp("collect")
    cli = Cli(settings, directory)
    cli.ok("domain", "add", DOMAIN)
    return settings, cli, directory


def allowing(collecting, directory: Path, *ports: int, **changes):
    """The module's settings with `ports` allowed too (a test's own servers), its CLI
    and its config file, in `directory`."""
    settings = replace(collecting[0], collect_allowed_ports=(
        *collecting[0].collect_allowed_ports, *ports), **changes)
    return settings, Cli(settings, directory), config_file(settings, directory)


def config_file(settings, directory: Path, name: str = "mailbasic.toml") -> Path:
    path = directory / name
    path.write_text(render_settings(settings))
    return path


def collect(config: Path) -> str:
    done = subprocess.run([MAILBASIC, "--config", str(config), "jobs", "collect"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def nothing_due(settings) -> None:
    """As if every account had just been collected."""
    _set_last_run(settings, "now()")


def make_due(settings) -> None:
    """As if every account's interval had passed."""
    _set_last_run(settings, "NULL")


def _set_last_run(settings, value: str) -> None:
    engine = db.make_engine(settings)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE collect_accounts SET last_run_at = {value}"))
    finally:
        engine.dispose()


def message(subject: str, body: str = "collected text\n") -> bytes:
    return (f"Return-Path: <sender@elsewhere.example>\r\nFrom: sender@elsewhere.example\r\n"
            f"To: someone@provider.example\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4()}@elsewhere.example>\r\n\r\n{body}").encode()


def subjects(stack, user: str) -> list[str]:
    fetched = json.loads(stack.dovecot.doveadm("-f", "json", "fetch", "-u", user,
                                               "hdr.subject", "mailbox", "*", "all"))
    return sorted(entry["hdr.subject"] for entry in fetched)


def wait_for(stack, user: str, count: int) -> list[str]:
    deadline = time.monotonic() + 60
    while len(found := subjects(stack, user)) < count:
        assert time.monotonic() < deadline, f"{user} has {found}, expected {count}"
        time.sleep(0.3)
    time.sleep(0.5)  # nothing more may come
    return subjects(stack, user)


def status(cli: Cli, mailbox: str) -> dict:
    return json.loads(cli.ok("collect", "status", "--mailbox", mailbox, "--json").stdout)[0]


def add_account(cli, mailbox: str, user: str, *options: str,
                password: str | None = None) -> None:
    cli.ok("customer", "add", mailbox.split("@")[0], "--domain", DOMAIN,
           "--password-stdin", input="a collecting secret\n")
    cli.ok("collect", "add", mailbox, "--host", "127.0.0.1", "--user", user,
           "--password-stdin", *options, input=(password or REMOTE_USERS[user]) + "\n")


def test_collects_over_tls_once_and_leaves_mail_on_the_server(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"anna.collects@{DOMAIN}"
    for number in range(3):
        remote.deliver("anna@provider.example", message(f"tls {number}"))
    remote.deliver("anna@provider.example", message("tls spam", GTUBE))
    add_account(cli, mailbox, "anna@provider.example", "--security", "tls",
                "--port", str(remote.pop3s_port))
    config = config_file(settings, directory)

    log = collect(config)
    assert log.count(f"action=collect subject=anna@provider.example@127.0.0.1:"
                     f"{remote.pop3s_port}") == 4
    assert wait_for(postfix, mailbox, 4) == ["tls 0", "tls 1", "tls 2", "tls spam"]
    spam = json.loads(postfix.dovecot.doveadm(
        "-f", "json", "fetch", "-u", mailbox, "hdr.x-spam-flag", "header", "subject",
        "tls spam"))
    assert spam[0]["hdr.x-spam-flag"] == "YES"  # it came through the milter
    assert remote.count("anna@provider.example") == 4  # left on the server
    assert status(cli, mailbox)["last_error"] is None

    make_due(settings)
    collect(config)
    remote.deliver("anna@provider.example", message("tls later"))
    make_due(settings)
    assert "action=collect " in collect(config)
    assert wait_for(postfix, mailbox, 5) == ["tls 0", "tls 1", "tls 2", "tls later",
                                              "tls spam"]
    assert "action=collect" not in collect(config)  # within its interval: not fetched


def test_starttls_deleting_from_the_server(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"ben.collects@{DOMAIN}"
    for number in range(2):
        remote.deliver("ben@provider.example", message(f"starttls {number}"))
    add_account(cli, mailbox, "ben@provider.example", "--security", "starttls",
                "--port", str(remote.pop3_port), "--delete-from-server")
    collect(config_file(settings, directory))
    assert wait_for(postfix, mailbox, 2) == ["starttls 0", "starttls 1"]
    assert remote.count("ben@provider.example") == 0


def test_wrong_password_is_reported_in_the_status(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"cleo.collects@{DOMAIN}"
    add_account(cli, mailbox, "cleo@provider.example", "--security", "tls",
                "--port", str(remote.pop3s_port), password="not cleo's password")
    log = collect(config_file(settings, directory))
    assert "action=collect-failed subject=cleo@provider.example" in log
    state = status(cli, mailbox)
    assert state["last_error"].endswith("logging in: login refused")
    assert state["last_success_at"] is None and state["last_run_at"] is not None


def test_a_certificate_nobody_vouches_for_is_a_tls_failure(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"dora.collects@{DOMAIN}"
    remote.deliver("dora@provider.example", message("never read"))
    add_account(cli, mailbox, "dora@provider.example", "--security", "tls",
                "--port", str(remote.pop3s_port))
    untrusting = replace(settings, collect_ca_file=None)
    make_due(settings)
    collect(config_file(untrusting, directory, "untrusting.toml"))
    assert "connecting: TLS certificate not trusted" in status(cli, mailbox)["last_error"]
    assert subjects(postfix, mailbox) == []


class DroppingProxy(LoopbackServer):
    """Forwards a POP3 session to the real server, but the first time the client asks
    for message `number` it passes a few bytes of the answer and then cuts both sides."""

    def __init__(self, port: int, number: int) -> None:
        self.target, self.trigger = port, f"RETR {number}\r\n".encode()
        self.dropped = threading.Event()
        super().__init__()

    def _session(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.target)) as server:
            sockets = {client: server, server: client}
            cutting = False
            client.settimeout(10), server.settimeout(10)
            with selectors.DefaultSelector() as selector:
                for end in sockets:
                    selector.register(end, selectors.EVENT_READ)
                while True:
                    for key, _ in selector.select(10):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        if key.fileobj is client and data == self.trigger \
                                and not self.dropped.is_set():
                            cutting = True
                        if key.fileobj is server and cutting:
                            sockets[server].sendall(data[:40])
                            self.dropped.set()
                            return
                        sockets[key.fileobj].sendall(data)



def test_a_connection_dropped_mid_retrieve_loses_nothing_and_doubles_nothing(
        postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"eve.collects@{DOMAIN}"
    user = "eve@provider.example"
    for number in range(3):
        remote.deliver(user, message(f"dropped {number}"))
    proxy = DroppingProxy(remote.pop3_port, 2)
    settings, cli, config = allowing(collecting, directory, proxy.port)
    try:
        add_account(cli, mailbox, user, "--security", "plain", "--port", str(proxy.port),
                    "--delete-from-server")
        collect(config)
        assert proxy.dropped.is_set()
        state = status(cli, mailbox)
        assert "retrieving message 2: the server closed the connection" in state["last_error"]
        assert wait_for(postfix, mailbox, 1) == ["dropped 0"]
        assert remote.count(user) == 3  # the deletion of 1 never reached QUIT

        make_due(settings)
        collect(config)
        assert wait_for(postfix, mailbox, 3) == ["dropped 0", "dropped 1", "dropped 2"]
        assert remote.count(user) == 0
        assert status(cli, mailbox)["last_error"] is None
    finally:
        proxy.close()


def test_collect_add_refuses_internal_addresses_and_other_ports(collecting, tmp_path):
    settings, _, _ = collecting
    strict = Cli(replace(settings, collect_allowed_networks=(),
                         collect_allowed_ports=(110, 995)), tmp_path)
    mailbox = f"ida.collects@{DOMAIN}"
    strict.ok("customer", "add", "ida.collects", "--domain", DOMAIN, "--password-stdin",
              input="a collecting secret\n")
    refusals = {("127.0.0.1", "10025"): "port 10025 is not a POP3 port",
                ("127.0.0.1", "995"): "127.0.0.1 is a loopback address",
                ("10.1.2.3", "995"): "10.1.2.3 is a private or reserved address",
                ("169.254.1.1", "995"): "is a link-local address",
                ("224.0.0.1", "995"): "is a multicast address",
                ("0.0.0.0", "995"): "is an unspecified address"}
    for (host, port), reason in refusals.items():
        line = strict.refused(9, "collect", "add", mailbox, "--host", host, "--port", port,
                              "--user", "ida@provider.example", "--password-stdin",
                              input="secret\n")
        assert reason in line, line
    assert json.loads(strict.ok("collect", "status", "--mailbox", mailbox,
                                "--json").stdout) == []


def test_the_address_is_checked_again_at_every_connection(postfix, remote, collecting):
    """Allowed when it was added; refused when the job connects under today's rule
    (as when the name now points somewhere else)."""
    settings, cli, directory = collecting
    mailbox = f"fred.collects@{DOMAIN}"
    remote.deliver("fred@provider.example", message("never collected"))
    add_account(cli, mailbox, "fred@provider.example", "--security", "plain",
                "--port", str(remote.pop3_port))
    collect(config_file(replace(settings, collect_allowed_networks=()), directory,
                        "strict.toml"))
    assert status(cli, mailbox)["last_error"].endswith(
        "connecting: the server's address is not allowed (a loopback address)")
    assert subjects(postfix, mailbox) == []


def run_measured(config: Path) -> tuple[str, int]:
    """`jobs collect` in a process of its own: its log and its peak memory (bytes)."""
    with tempfile.TemporaryFile() as log:
        job = subprocess.Popen([MAILBASIC, "--config", str(config), "jobs", "collect"],
                               stdout=subprocess.DEVNULL, stderr=log)
        _, code, usage = os.wait4(job.pid, 0)
        job.returncode = code
        assert os.waitstatus_to_exitcode(code) == 0
        log.seek(0)
        return log.read().decode(), usage.ru_maxrss * 1024


def test_a_message_larger_than_announced_is_cut_off_in_bounded_memory(
        postfix, collecting, tmp_path):
    from tests.hostile_pop3 import HostilePop3, Served
    server = HostilePop3([Served("liar", 100, 300 * MIB), Served("small", 200, 200)])
    settings, cli, config = allowing(collecting, tmp_path, server.port,
                                     message_size_limit=MIB)
    mailbox = f"liar.collects@{DOMAIN}"
    try:
        # This account alone is due: the earlier tests' accounts would be collected in
        # the same run and counted in its memory.
        nothing_due(settings)
        _, baseline = run_measured(config)
        add_account(cli, mailbox, "anna@provider.example", "--security", "plain",
                    "--port", str(server.port))
        log, peak = run_measured(config)
        assert peak < baseline + 32 * MIB, \
            f"the job grew to {peak // MIB} MiB from {baseline // MIB} MiB doing nothing"
        assert "action=collect-skipped" in log and "message liar grew past" in log
        assert "grew past the size limit of 1 MiB" in status(cli, mailbox)["last_error"]

        make_due(settings)
        collect(config)
        assert wait_for(postfix, mailbox, 1) == ["small"]
        assert server.commands.count(b"RETR 1") == 1  # remembered: never read again
        assert "size limit" in status(cli, mailbox)["last_error"]
    finally:
        server.close()


def test_a_message_announced_too_large_is_never_retrieved(postfix, collecting, tmp_path):
    from tests.hostile_pop3 import HostilePop3, Served
    server = HostilePop3([Served("big", 30 * MIB, 2 * MIB), Served("fine", 300, 300)])
    _settings, cli, config = allowing(collecting, tmp_path, server.port,
                                     message_size_limit=MIB)
    mailbox = f"big.collects@{DOMAIN}"
    try:
        add_account(cli, mailbox, "anna@provider.example", "--security", "plain",
                    "--port", str(server.port))
        log = collect(config)
        assert wait_for(postfix, mailbox, 1) == ["fine"]
        assert b"RETR 1" not in server.commands
        assert "message big (31457280 bytes) is over the size limit" in log
        state = status(cli, mailbox)
        assert state["last_error"] == ("1 message(s) over the size limit of 1 MiB skipped; "
                                       "they stay on the server")
        assert state["last_success_at"] is not None and state["last_fetched"] == 1
    finally:
        server.close()


def test_a_slow_server_holds_up_only_its_own_account(postfix, remote, collecting, tmp_path):
    from tests.hostile_pop3 import HostilePop3
    slow = HostilePop3([], trickle_listing=True)
    _settings, cli, config = allowing(collecting, tmp_path, slow.port,
                                     collect_account_seconds=15)
    stuck, quick = f"stuck.collects@{DOMAIN}", f"gail.collects@{DOMAIN}"
    remote.deliver("gail@provider.example", message("while the other is stuck"))
    try:
        add_account(cli, stuck, "anna@provider.example", "--security", "plain",
                    "--port", str(slow.port))  # the lower id: first in line
        add_account(cli, quick, "gail@provider.example", "--security", "plain",
                    "--port", str(remote.pop3_port))
        started = time.monotonic()
        job = subprocess.Popen([MAILBASIC, "--config", str(config), "jobs", "collect"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert wait_for(postfix, quick, 1) == ["while the other is stuck"]
        assert slow.open_sessions == 1  # still stuck while the other was collected
        _, log = job.communicate(timeout=60)
        assert job.returncode == 0, log
        assert time.monotonic() - started < 40
        assert status(cli, stuck)["last_error"].endswith(
            "listing messages: the account's time limit of 15 s ran out; the rest follows "
            "on the next run")
        assert status(cli, quick)["last_error"] is None
    finally:
        slow.close()


def test_two_runs_at_once_share_the_accounts(postfix, remote, collecting, tmp_path):
    """The timer starts a run while the last one is still stuck on a slow server: the new
    run leaves that account to it and collects the others (no job-wide lock)."""
    from tests.hostile_pop3 import HostilePop3
    slow = HostilePop3([], trickle_listing=True)
    _settings, cli, config = allowing(collecting, tmp_path, slow.port,
                                     collect_account_seconds=20, collect_workers=1)
    stuck, quick = f"kurt.collects@{DOMAIN}", f"lisa.collects@{DOMAIN}"
    remote.deliver("lisa@provider.example", message("collected by the second run"))
    try:
        add_account(cli, stuck, "anna@provider.example", "--security", "plain",
                    "--port", str(slow.port))  # the lower id: the first run takes it
        first = subprocess.Popen([MAILBASIC, "--config", str(config), "jobs", "collect"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
        deadline = time.monotonic() + 20
        while slow.open_sessions == 0:
            assert time.monotonic() < deadline, "the first run never reached the slow server"
            time.sleep(0.1)
        add_account(cli, quick, "lisa@provider.example", "--security", "plain",
                    "--port", str(remote.pop3_port))
        started = time.monotonic()
        second = collect(config)
        assert "another run holds the lock" not in second
        assert "action=collect-skip subject=account" in second
        assert wait_for(postfix, quick, 1) == ["collected by the second run"]
        assert time.monotonic() - started < 15 and first.poll() is None  # first still stuck
        _, log = first.communicate(timeout=60)
        assert first.returncode == 0, log
    finally:
        slow.close()


def test_an_account_another_run_is_collecting_is_left_to_it(postfix, remote, collecting):
    from mailbasic.jobs.collect import ACCOUNT_LOCKS
    settings, cli, directory = collecting
    held, free = f"hank.collects@{DOMAIN}", f"ivy.collects@{DOMAIN}"
    remote.deliver("hank@provider.example", message("hank's"))
    remote.deliver("ida@provider.example", message("ivy's"))
    add_account(cli, held, "hank@provider.example", "--security", "plain",
                "--port", str(remote.pop3_port))
    add_account(cli, free, "ida@provider.example", "--security", "plain",
                "--port", str(remote.pop3_port))
    config = config_file(settings, directory)
    engine = db.make_engine(settings)
    try:
        key = {"space": ACCOUNT_LOCKS, "account": status(cli, held)["id"]}
        with engine.connect() as other_run:  # holds the account as a running job would
            other_run.execute(text("SELECT pg_advisory_lock(:space, :account)"), key)
            log = collect(config)
            assert "action=collect-skip subject=account" in log
            assert wait_for(postfix, free, 1) == ["ivy's"]
            assert subjects(postfix, held) == [] and status(cli, held)["last_run_at"] is None
            other_run.execute(text("SELECT pg_advisory_unlock(:space, :account)"), key)
        collect(config)  # the other run is over
        assert wait_for(postfix, held, 1) == ["hank's"]
    finally:
        engine.dispose()


def test_errors_quote_nothing_the_server_says(postfix, collecting, tmp_path):
    from tests.hostile_pop3 import HostilePop3
    secret = "db-password-hunter2"
    chatty = HostilePop3([], banner=f"+OK {secret} ready".encode(),
                         login_reply=f"-ERR {secret} says no".encode())
    smtp_like = HostilePop3([], banner=f"220 {secret} ESMTP".encode())
    closed = socket.create_server(("127.0.0.1", 0))
    nobody = closed.getsockname()[1]
    closed.close()
    _settings, cli, config = allowing(collecting, tmp_path, chatty.port, smtp_like.port,
                                     nobody)
    expected = {chatty.port: "logging in: login refused",
                smtp_like.port: "connecting: protocol error",
                nobody: "connecting: connection refused"}
    try:
        for port in expected:
            add_account(cli, f"quiet{port}.collects@{DOMAIN}", "anna@provider.example",
                        "--security", "plain", "--port", str(port))
        log = collect(config)
        for port, reason in expected.items():
            error = status(cli, f"quiet{port}.collects@{DOMAIN}")["last_error"]
            assert error == f"anna@provider.example@127.0.0.1:{port}: {reason}"
        assert secret not in log
    finally:
        chatty.close()
        smtp_like.close()
