"""The milter's worker processes (mailbasic/milter/workers.py), through the stack's real
Postfix: the stack's milter runs two workers under a supervisor (as on a server of two
cores); mail is filtered by both; a killed worker is replaced and mail goes on; workers
end with their supervisor, by SIGTERM (exit 0) or by its SIGKILL."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from mailbasic.config import render_settings
from tests.conftest import Cli

HOST = "127.0.0.1"
DOMAIN = "workers.example"
MAILBOX = f"wanda.workers@{DOMAIN}"
WORKERS = 2     # the stack's [milter] workers


@pytest.fixture(scope="module")
def mailbox(postfix, tmp_path_factory):
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    cli.ok("customer", "add", "wanda.workers", "--domain", DOMAIN, "--password-stdin",
           input="a workers secret\n")
    return MAILBOX


def children(pid: int) -> list[int]:
    return sorted(int(child) for child in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def until(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return result


def send(stack, subject: str) -> None:
    message = (f"From: someone@remote.example\r\nTo: {MAILBOX}\r\nSubject: {subject}\r\n"
               "\r\nHello.\r\n")
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.sendmail("someone@remote.example", [MAILBOX], message)


def inbox_subjects(stack) -> list[str]:
    found = stack.dovecot.doveadm("-f", "tab", "fetch", "-u", MAILBOX, "hdr.subject",
                                  "mailbox", "INBOX", "all")
    return [line.strip() for line in found.splitlines()[1:]]


def arrived(stack, subject: str) -> None:
    until(lambda: any(subject in line for line in inbox_subjects(stack)),
          f"{subject!r} did not arrive", timeout=60)


def workers_of(stack) -> list[int]:
    assert stack.milter.process is not None
    return until(lambda: (found := children(stack.milter.process.pid))
                 and len(found) == WORKERS and found, f"{WORKERS} milter workers")


def test_the_stack_milter_serves_from_its_workers(postfix, mailbox):
    workers = workers_of(postfix)
    subjects = [f"Worker mail {uuid.uuid4().hex[:8]}" for _ in range(6)]
    for subject in subjects:
        send(postfix, subject)
    for subject in subjects:
        arrived(postfix, subject)
    # Each decision's log line names the process that made it: a worker, never the
    # supervisor (which only forks and waits).
    log = postfix.milter.logfile.read_text(errors="replace").splitlines()
    deciding = {int(line.split("mailbasic.milter[", 1)[1].split("]", 1)[0])
                for line in log if "stage=rules" in line and f"to={MAILBOX}" in line}
    assert deciding and deciding <= set(workers), (deciding, workers)

def test_a_killed_worker_is_replaced_and_mail_goes_on(postfix, mailbox):
    before = workers_of(postfix)
    # What a worker killed while reading a large message leaves in the spool.
    left = Path(postfix.settings.spool_directory) / f"mailbasic-{before[0]}-left-behind"
    left.write_bytes(b"a body the dead worker was reading")
    subprocess.run(["kill", "-KILL", str(before[0])], check=True)
    after = until(lambda: (found := children(postfix.milter.process.pid))
                  and len(found) == WORKERS and before[0] not in found and found,
                  "the killed worker was not replaced")
    assert before[1] in after       # the other worker served on
    log = postfix.milter.logfile.read_text(errors="replace")
    assert f"verdict=restart reason=worker {before[0]} ended (signal SIGKILL)" in log
    assert not left.exists()
    subject = f"After a worker died {uuid.uuid4().hex[:8]}"
    send(postfix, subject)
    arrived(postfix, subject)


@pytest.fixture
def own_milter(postgres, tmp_path):
    """A milter of its own (three workers, its own socket): stopping it here leaves the
    stack's alone."""
    config = tmp_path / "milter.toml"
    config.write_text(render_settings(replace(
        postgres.daemon_settings, milter_workers=3,
        milter_socket=f"unix:{tmp_path}/milter.sock",
        spool_directory=str(tmp_path / "spool"))))
    milter = subprocess.Popen([str(Path(sys.executable).with_name("mailbasic")),
                               "--config", str(config), "milter"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield milter
    finally:
        if milter.poll() is None:
            milter.kill()
        milter.wait()


def test_sigterm_stops_the_supervisor_and_its_workers(own_milter):
    workers = until(lambda: len(found := children(own_milter.pid)) == 3 and found,
                    "three workers")
    own_milter.send_signal(signal.SIGTERM)
    assert own_milter.wait(timeout=30) == 0
    until(lambda: not any(alive(pid) for pid in workers), "a worker outlived SIGTERM",
          timeout=10)


def test_when_the_socket_name_is_gone_the_supervisor_stops_everything(own_milter,
                                                                      tmp_path):
    # libmilter removes the socket's name when a worker's loop shuts down (as a user
    # other than root); the other workers would accept on a socket nobody can reach.
    workers = until(lambda: len(found := children(own_milter.pid)) == 3 and found,
                    "three workers")
    (tmp_path / "milter.sock").unlink()
    subprocess.run(["kill", "-KILL", str(workers[0])], check=True)
    assert own_milter.wait(timeout=30) == 1     # for the service manager to restart it
    until(lambda: not any(alive(pid) for pid in workers), "a worker outlived the stop",
          timeout=10)


def test_workers_end_with_a_killed_supervisor(own_milter):
    workers = until(lambda: len(found := children(own_milter.pid)) == 3 and found,
                    "three workers")
    own_milter.kill()   # SIGKILL: the supervisor cannot stop them itself
    own_milter.wait()
    until(lambda: not any(alive(pid) for pid in workers), "a worker outlived its supervisor",
          timeout=10)

