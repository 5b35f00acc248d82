"""Faults through the real Postfix (issue 15): a frozen PostgreSQL answers 4xx within the
database deadline at every stage, a restarted one is used at once, a policy worker dies
with its daemon, and the milter spools only into its own directory. (The long version,
with every component killed on a schedule, is `make soak`.)"""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from mailbasic.config import render_settings
from mailbasic.devstack.process import free_port
from tests.conftest import DATABASE_DEADLINE, Cli
from tests.e2e.test_content_filtering import fetch_as, unique

HOST = "127.0.0.1"
DOMAIN = "faults.example"
PASSWORD = "a long faulty secret"
# What a 4xx may take beyond the deadline: Postfix's and the daemons' own work.
SLACK = 5.0


@pytest.fixture(scope="module")
def cli(postfix, tmp_path_factory):
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    for name in ("flora.faults", "gus.faults", "hilde.faults"):
        cli.ok("customer", "add", name, "--domain", DOMAIN, "--password-stdin",
               input=PASSWORD + "\n")
    return cli


def postgres_processes(stack) -> list[int]:
    """The postmaster and every backend it forked."""
    postmaster = int((stack.postgres.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                              text=True).stdout.split()
    return [postmaster, *map(int, children)]


@contextmanager
def frozen(stack):
    """PostgreSQL accepts and never answers, as in a storage stall (SIGSTOP)."""
    processes = postgres_processes(stack)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_frozen_database_gets_451_within_the_deadline_at_rcpt(postfix, cli):
    with frozen(postfix), smtplib.SMTP(HOST, postfix.ports.smtp, timeout=120) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        # An address nobody asked for yet: no cache can answer for the database.
        (code, text), took = timed(lambda: client.rcpt(f"nobody.yet@{DOMAIN}"))
    assert code // 100 == 4, (code, text)
    assert took < DATABASE_DEADLINE + SLACK, took


def test_a_frozen_database_gets_451_within_the_deadline_at_end_of_data(postfix, cli,
                                                                       tls_context):
    recipient = f"flora.faults@{DOMAIN}"
    subject = unique("warm")  # the lookups, the policy and the rules know flora now
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=120) as client:
        client.sendmail("someone@remote.example", [recipient], message(subject, recipient))
    fetch_as(postfix, tls_context, (recipient, PASSWORD), subject)
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=120) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        assert client.rcpt(recipient)[0] == 250   # from the caches
        with frozen(postfix):
            # The milter's transaction log cannot be written: 451, never a 250 unlogged.
            (code, text), took = timed(lambda: client.data(message("frozen", recipient)))
    assert code // 100 == 4, (code, text)
    assert took < DATABASE_DEADLINE + SLACK, took


def test_a_restarted_database_is_used_at_once(postfix, cli, tls_context):
    recipient = f"gus.faults@{DOMAIN}"
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=120) as client:
        client.sendmail("someone@remote.example", [recipient],
                        message(unique("before"), recipient))
    postfix.postgres.stop()         # every pooled connection of every daemon dies
    postfix.postgres.launch()
    postfix.postgres.wait_ready()
    subject = unique("right after the restart")
    with smtplib.SMTP(HOST, postfix.ports.smtp, timeout=120) as client:
        client.ehlo("mx.remote.example")
        client.mail("someone@remote.example")
        assert client.rcpt(f"hilde.faults@{DOMAIN}")[0] == 250   # a fresh lookup
        assert client.rcpt(recipient)[0] == 250
        assert client.data(message(subject, recipient))[0] == 250
    # Accepted at once. Delivery may need Dovecot to reconnect first (its own retry, and
    # then Postfix's queue): ask the queue to try again rather than wait out its backoff.
    delivered_after_flushes(postfix, tls_context, (recipient, PASSWORD), subject)
    # Whatever else the restart deferred (Dovecot's first lookups on dead connections
    # answer 4xx) is delivered too, not left to the next tests' queue.
    queue_emptied_after_flushes(postfix)


def queue_emptied_after_flushes(stack) -> None:
    for _ in range(20):
        flushed = ["postqueue", "-c", str(stack.postfix.config_directory)]
        subprocess.run([*flushed, "-f"], check=True, capture_output=True)
        time.sleep(0.5)
        if "Mail queue is empty" in subprocess.run([*flushed, "-p"], check=True,
                                                   capture_output=True, text=True).stdout:
            return
    pytest.fail("mail deferred by the restart stayed in Postfix's queue")


def delivered_after_flushes(stack, tls_context, login, subject: str) -> None:
    for _ in range(6):
        subprocess.run(["postqueue", "-c", str(stack.postfix.config_directory), "-f"],
                       check=True, capture_output=True)
        try:
            fetch_as(stack, tls_context, login, subject)
            return
        except pytest.fail.Exception:
            continue
    pytest.fail(f"{subject!r} was accepted but never delivered")


def message(subject: str, recipient: str) -> bytes:
    return (f"From: someone@remote.example\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{unique('id').replace(' ', '.')}@remote.example>\r\n\r\n"
            "Hello.\r\n").encode()


def test_policy_workers_die_with_their_daemon(postgres, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text(render_settings(replace(
        postgres.daemon_settings, policy_workers=3,
        policy_socket=f"inet:{free_port()}@127.0.0.1")))
    daemon = subprocess.Popen([str(Path(sys.executable).with_name("mailbasic")),
                               "--config", str(config), "policy"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(workers := children(daemon.pid)) < 2:
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.1)
        daemon.kill()   # SIGKILL: the daemon cannot stop them itself
        daemon.wait()
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived its daemon"
            time.sleep(0.1)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def children(pid: int) -> list[int]:
    return [int(child) for child in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_the_milter_spools_into_its_own_directory_and_empties_it_at_start(postfix):
    from mailbasic.milter.app import prepare_spool_directory
    from mailbasic.milter.spool import Spool
    directory = Path(postfix.settings.spool_directory)
    leftover = directory / "mailbasic-left-by-a-killed-milter"
    leftover.write_bytes(b"a body nobody will read")
    prepare_spool_directory(str(directory))
    assert not leftover.exists()
    assert directory.stat().st_mode & 0o777 == 0o700
    spool = Spool(threshold=10, directory=str(directory))
    spool.write(b"more than ten bytes of body")
    [spooled] = list(directory.iterdir())
    assert spooled.stat().st_mode & 0o777 == 0o600
    spool.close()
    assert list(directory.iterdir()) == []
