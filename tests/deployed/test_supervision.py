"""The deployed daemons are supervised (issue 15): an init script's restart leaves no
process of the old instance behind, a daemon killed with SIGKILL is started again, and a
policy worker dies with its daemon."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime

import pytest

from tests.corpus import mail
from tests.deployed.test_deployed_service import (
    fetch_imaps,
    recorded_delivery,
    send_mx,
    unique,
)

VENV_PYTHON = "/opt/mailbasic/venv/bin/python3 /opt/mailbasic/venv/bin/mailbasic"


def daemon_pids(name: str, config: str = "daemons") -> set[int]:
    """The daemon's Python processes (the main one and its workers)."""
    found = subprocess.run(
        ["pgrep", "-f", f"^{VENV_PYTHON} --config /etc/mailbasic/{config}.toml {name}$"],
        capture_output=True, text=True).stdout.split()
    return set(map(int, found))


def supervisors(name: str) -> set[int]:
    found = subprocess.run(["pgrep", "-f", f"mailbasic-supervise .* {name}$"],
                           capture_output=True, text=True).stdout.split()
    return set(map(int, found))


def wait_for(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_restart_leaves_nothing_of_the_old_instance(customer):
    before = daemon_pids("policy") | supervisors("policy")
    assert len(daemon_pids("policy")) == 2   # the daemon and its one worker
    subprocess.run(["/etc/init.d/mailbasic-policy", "restart"], check=True,
                   capture_output=True, timeout=90)
    wait_for(lambda: len(daemon_pids("policy")) == 2, "policy did not come back")
    assert len(supervisors("policy")) == 1
    assert not before & (daemon_pids("policy") | supervisors("policy"))


@pytest.mark.parametrize("name", ["milter", "policy", "lookups"])
def test_a_killed_daemon_is_started_again(customer, tls_context, name):
    config = "lookups" if name == "lookups" else "daemons"
    victims = daemon_pids(name, config)
    assert victims
    main = min(victims)   # the first started: the main process, not a worker
    subprocess.run(["kill", "-KILL", str(main)], check=True)
    # Its workers go with it; the supervisor starts a new daemon.
    wait_for(lambda: not victims & daemon_pids(name, config) and daemon_pids(name, config),
             f"{name} was not started again, or a worker outlived it")
    subject = unique(f"after killing {name}")
    deadline = time.monotonic() + 30
    while True:   # until the new daemon listens
        try:
            send_mx("someone@remote.example", [customer.alice[0]],
                    mail(subject, recipient=customer.alice[0]).as_bytes())
            break
        except Exception:
            assert time.monotonic() < deadline, f"mail refused after {name} came back"
            time.sleep(1)
    fetch_imaps(customer.alice, tls_context, subject)


def test_a_killed_delivery_log_reader_resumes_where_it_stopped(customer):
    victims = daemon_pids("delivery-log")
    assert len(victims) == 1
    since = datetime.now(UTC).isoformat()
    subprocess.run(["kill", "-KILL", *map(str, victims)], check=True)
    # Mail that Postfix logs while the reader is down is read once it is back.
    send_mx("someone@remote.example", [customer.bobby[0]],
            mail(unique("while the reader was down"), recipient=customer.bobby[0]).as_bytes())
    wait_for(lambda: daemon_pids("delivery-log") - victims, "delivery-log was not restarted")
    recorded_delivery(customer.bobby[0], since)
