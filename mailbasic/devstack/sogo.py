"""SOGo of the stack: the webmail with address book and calendar, behind the stack's nginx.

Its configuration is the Ansible sogo role's template, rendered with the stack's values.
SOGo reads only /etc/sogo/sogo.conf (and the sogo user's GNUstep defaults, in its home
directory): the stack's sogod runs in a mount namespace of its own where the stack's
directory is bind-mounted on /etc/sogo, so nothing in /etc is touched and a deployed SOGo
beside it keeps its own. Its cache is a memcached of its own on a unix socket.
"""

from __future__ import annotations

import grp
import http.client
import os
from pathlib import Path
from typing import Any

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import (
    StackError,
    chown,
    kill_now,
    read_pid,
    start_daemon,
    stop_pidfile,
    wait_until,
)
from mailbasic.devstack.templating import render_role_template

USER = "sogo"
SYSTEM_CONFIG = Path("/etc/sogo")
SOGOD = "/usr/sbin/sogod"


class Sogo:
    name = "sogo"

    def __init__(self, layout: Layout, port: int, values: dict[str, Any]) -> None:
        """`values`: the sogo role's variables where the stack differs (its database,
        IMAP, submission and ManageSieve ports)."""
        self.port, self.values = port, values
        self.directory = layout.component(self.name)
        self.config_directory = self.directory / "etc"
        self.pidfile = self.directory / "sogo.pid"
        self.cache_pidfile = self.directory / "memcached.pid"
        self.cache_socket = cache_socket(layout)
        self.logfile = layout.log(self.name)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/SOGo"

    def launch(self) -> None:
        if not (Path(SOGOD).exists() and SYSTEM_CONFIG.is_dir()):
            raise StackError("SOGo not found: install Debian's sogo package (make run does)")
        self._write_config()
        start_daemon(["memcached", "-d", "-P", str(self.cache_pidfile),
                      "-s", str(self.cache_socket), "-a", "0600", "-m", "64"],
                     self.logfile, user=USER)
        # sogod forks its watchdog and workers, which stay in the namespace.
        start_daemon(["unshare", "--mount", "--propagation", "private", "--",
                      "sh", "-c", 'mount --bind "$0" /etc/sogo && exec "$@"',
                      str(self.config_directory), "runuser", "-u", USER, "--", SOGOD,
                      "-WOPidFile", str(self.pidfile), "-WOLogFile", str(self.logfile)],
                     self.logfile)

    def wait_ready(self) -> None:
        wait_until(self._answers, what=f"SOGo on port {self.port}", timeout=60,
                   log=self.logfile)

    def stop(self) -> None:
        """SIGTERM to sogod's watchdog, which stops its workers; a worker still waiting on
        a server (the watchdog waits for it) is killed after a while, as is whatever else
        is left in the stack's SOGo mount namespace: only this sogod runs there."""
        watchdog = read_pid(self.pidfile)
        namespace = sogod_namespace(watchdog) if watchdog else None
        members = namespace_members(namespace) if namespace else []
        stop_pidfile(self.pidfile, "sogod", timeout=15)
        for pid in members:
            if in_namespace(pid, namespace):    # still that process, not a reused pid
                kill_now(pid)
        stop_pidfile(self.cache_pidfile, "SOGo's memcached")

    def _answers(self) -> bool:
        """SOGo's login page (the watchdog listens before its workers are up)."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            connection.request("GET", "/SOGo/")
            return connection.getresponse().status == 200
        finally:
            connection.close()

    def _write_config(self) -> None:
        self.config_directory.mkdir(parents=True, exist_ok=True)
        self.logfile.touch()
        for path in (self.directory, self.logfile):
            chown(path, USER)
        self.config_directory.chmod(0o755)
        config = render_role_template("sogo", "sogo.conf.j2",
                                      self.config_directory / "sogo.conf", {
                                          **self.values,
                                          "sogo_listen": f"{HOST}:{self.port}",
                                          "sogo_memcached_socket": str(self.cache_socket),
                                      }, mode=0o640)
        # As deployed: root's, readable by SOGo's group (it holds a database password).
        if os.geteuid() == 0:
            os.chown(config, 0, grp.getgrnam(USER).gr_gid)


def cache_socket(layout: Layout) -> Path:
    """SOGo's memcached socket: mailbasic drops a login from it when its rights change."""
    return layout.component(Sogo.name) / "memcached.sock"


def sogod_namespace(pid: int) -> str | None:
    """The mount namespace of the stack's sogod: only when PID is a sogod (not a process
    that took the number of a stale pid file) and in a namespace of its own."""
    try:
        if os.readlink(f"/proc/{pid}/exe") != SOGOD:
            return None
        namespace = os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None
    if namespace == os.readlink("/proc/self/ns/mnt"):
        return None     # not the namespace launch() gave it: never the host's
    return namespace


def namespace_members(namespace: str) -> list[int]:
    """The processes in that mount namespace now."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and in_namespace(int(entry.name), namespace)]


def in_namespace(pid: int, namespace: str | None) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt") == namespace
    except OSError:
        return False    # exited
