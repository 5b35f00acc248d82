"""Small helpers for starting daemons and polling them until they answer."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class StackError(RuntimeError):
    """A server of the local stack did not start or stop as it should."""


def run(command: Sequence[str], *, user: str | None = None, input: str | None = None,
        env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run a command to completion; raise StackError with its output if it fails."""
    argv = as_user(user, command)
    result = subprocess.run(argv, input=input, capture_output=True, text=True,
                            env=env, timeout=timeout, check=False)
    if result.returncode != 0:
        raise StackError(f"{' '.join(argv)} exited {result.returncode}:\n"
                         f"{result.stdout}{result.stderr}")
    return result.stdout


def start_daemon(command: Sequence[str], log: Path, *, user: str | None = None,
                 env: dict[str, str] | None = None, timeout: float = 120) -> None:
    """Run a command that daemonizes itself. Its output goes to `log`, not to a pipe:
    a daemon that inherits a pipe keeps it open and nobody would ever read its end."""
    argv = as_user(user, command)
    with log.open("ab") as output:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, env=env, timeout=timeout,
                                check=False)
    if result.returncode != 0:
        raise StackError(f"{' '.join(argv)} exited {result.returncode}:\n{tail(log)}")


def as_user(user: str | None, command: Sequence[str]) -> list[str]:
    """Prefix the command so that root runs it as `user` (others run it as themselves)."""
    if user and os.geteuid() == 0:
        return ["runuser", "-u", user, "--", *command]
    return list(command)


def chown(path: Path, user: str) -> None:
    """Give `path` to `user` when running as root; a no-op for an unprivileged developer."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def wait_until(probe: Callable[[], object], *, what: str, timeout: float,
               log: Path | None = None) -> object:
    """Call probe() until it returns a true value; poll fast at first, then slower."""
    deadline = time.monotonic() + timeout
    delay, last_error = 0.02, "no answer"
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except (OSError, StackError) as error:
            last_error = str(error)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise StackError(f"{what} not ready after {timeout:.0f}s ({last_error})"
                     + (f"\n--- last lines of {log} ---\n{tail(log)}" if log else ""))


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def greeting(port: int, expected: bytes, host: str = "127.0.0.1") -> bool:
    """True when a TCP server on the port sends a first line starting with `expected`."""
    with socket.create_connection((host, port), timeout=2) as connection:
        return connection.recv(512).startswith(expected)


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port (a silent protocol)."""
    with socket.create_connection((host, port), timeout=2):
        return True


def request(port: int, payload: bytes, host: str = "127.0.0.1") -> bytes:
    """Send one request and read until the server closes the connection."""
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(payload)
        chunks = []
        while chunk := connection.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_running(pid: int) -> bool:
    """Whether the process exists and has not exited: a zombie (exited, its parent has not
    reaped it yet; a daemon's parent is init) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True     # no /proc: kill() has said it exists
    return state != "Z"


def stop_pidfile(pidfile: Path, what: str, timeout: float = 30, group: bool = False) -> None:
    """SIGTERM the process named in the pidfile (with group: its whole process group,
    which it leads) and wait until it is gone."""
    pid = read_pid(pidfile)
    if pid is None or not is_running(pid):
        return
    send = os.killpg if group else os.kill
    try:
        send(pid, signal.SIGTERM)
        wait_until(lambda: not is_running(pid), what=f"{what} exit", timeout=timeout)
    except ProcessLookupError:
        return      # gone between the look and the signal
    except StackError:
        kill_now(pid, send)
        wait_until(lambda: not is_running(pid), what=f"{what} exit after SIGKILL",
                   timeout=10)


def kill_now(pid: int, send: Callable[[int, int], None] = os.kill) -> None:
    """SIGKILL, for a process that may have just exited by itself."""
    try:
        send(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
