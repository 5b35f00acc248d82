"""mailbasic's own daemons in the stack (`mailbasic milter`, `mailbasic policy`,
`mailbasic portal`, ...), run in the background.

Each listens on a unix socket: over TCP on loopback, Nagle's algorithm and delayed ACKs
between Postfix and libmilter add about 40 ms to every message. The socket's directory
is setgid group postfix, so the socket (umask 007) is Postfix's to use and nobody else's;
the portal's is group www-data instead, nginx's workers' (its one client).
"""

from __future__ import annotations

import grp
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import StackError, stop_pidfile, wait_until


def chown_group(path: Path, group: str) -> None:
    os.chown(path, -1, grp.getgrnam(group).gr_gid)


class ServiceDaemon:
    def __init__(self, layout: Layout, name: str, config: Path, group: str = "postfix") -> None:
        """`group`: who may use the socket (the daemon's directory is setgid to it)."""
        self.layout, self.name, self.config, self.group = layout, name, config, group
        self.directory = layout.component(self.name)
        self.socket = self.directory / f"{name}.sock"
        self.pidfile = self.directory / f"{name}.pid"
        self.logfile = layout.log(self.name)
        self.process: subprocess.Popen | None = None

    def launch(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        chown_group(self.directory, self.group)
        self.directory.chmod(0o2750)
        executable = Path(sys.executable).with_name("mailbasic")
        with self.logfile.open("ab") as log:
            self.process = subprocess.Popen(
                [str(executable), "--config", str(self.config), self.name],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # outlives `mailbasic-stack up`
        self.pidfile.write_text(f"{self.process.pid}\n")

    def wait_ready(self) -> None:
        wait_until(self._accepts_connections, what=f"mailbasic {self.name}", timeout=30,
                   log=self.logfile)

    def _accepts_connections(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(2)
            probe.connect(str(self.socket))
        return True

    def stop(self) -> None:
        """The whole process group: the daemon and whatever it forked (policy workers)."""
        if self.process is None:  # started by an earlier `mailbasic-stack up`
            stop_pidfile(self.pidfile, f"mailbasic {self.name}", group=True)
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)  # our child: wait, or it lingers as a zombie
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()


class TcpServiceDaemon(ServiceDaemon):
    """A daemon of ours on a loopback TCP port (`mailbasic auth-policy`: Dovecot's HTTP
    client reaches nothing else)."""

    def __init__(self, layout: Layout, name: str, config: Path, port: int) -> None:
        super().__init__(layout, name, config)
        self.port = port

    def _accepts_connections(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise StackError(f"mailbasic {self.name} exited with {self.process.returncode}")
        with socket.create_connection((HOST, self.port), timeout=2):
            return True


class LogReaderDaemon(ServiceDaemon):
    """`mailbasic delivery-log`: no socket; ready once it says where it reads from."""

    def _accepts_connections(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise StackError(f"mailbasic {self.name} exited with {self.process.returncode}")
        return b"delivery-log: reading" in self.logfile.read_bytes()


def _signal_group(leader: int, number: int) -> None:
    try:
        os.killpg(leader, number)   # started with start_new_session: its own group
    except ProcessLookupError:
        pass
