"""The stack's process helpers: what counts as running, and stopping a daemon that exits
(or has exited) on its own while it is being stopped."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from mailbasic.devstack.process import is_running, stop_pidfile


def test_an_exited_child_not_yet_reaped_is_not_running():
    child = subprocess.Popen(["true"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        assert not is_running(child.pid)    # a zombie: kill(pid, 0) alone says it exists
    finally:
        child.wait()
    assert not is_running(child.pid)


def test_a_running_process_is_running_and_is_stopped_by_its_pidfile(tmp_path):
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert is_running(child.pid)
        pidfile = tmp_path / "sleep.pid"
        pidfile.write_text(f"{child.pid}\n")
        stop_pidfile(pidfile, "sleep", timeout=10)
        assert child.poll() is not None or not is_running(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_process_that_ignores_sigterm_is_killed(tmp_path):
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    try:
        time.sleep(0.2)     # the trap set
        pidfile = tmp_path / "stubborn.pid"
        pidfile.write_text(f"{child.pid}\n")
        stop_pidfile(pidfile, "stubborn", timeout=1)
        assert not is_running(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_pidfile_of_a_process_gone_before_the_stop_is_nothing_to_stop(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()
    pidfile = tmp_path / "gone.pid"
    pidfile.write_text(f"{child.pid}\n")
    stop_pidfile(pidfile, "gone", timeout=1)
