"""SpamAssassin's spamd of the stack: Debian's rules, no network tests (-L)."""

from __future__ import annotations

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import chown, request, start_daemon, stop_pidfile, wait_until

USER = "debian-spamd"


class Spamd:
    name = "spamd"

    def __init__(self, layout: Layout, port: int, max_children: int = 3) -> None:
        self.port, self.max_children = port, max_children
        self.directory = layout.component(self.name)
        self.pidfile = self.directory / "spamd.pid"
        self.logfile = layout.log(self.name)

    def launch(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.logfile.touch()
        for path in (self.directory, self.logfile):
            chown(path, USER)
        start_daemon(["spamd", "--daemonize", f"--pidfile={self.pidfile}",
             f"--listen={HOST}:{self.port}", f"--allowed-ips={HOST}",
             f"--username={USER}", f"--helper-home-dir={self.directory}",
             "--nouser-config", "--local", f"--max-children={self.max_children}",
             "--min-children=1",
             f"--syslog={self.logfile}"], self.logfile)

    def wait_ready(self) -> None:
        wait_until(lambda: request(self.port, b"PING SPAMC/1.5\r\n\r\n").startswith(
            b"SPAMD/1.5 0 PONG"), what="spamd", timeout=120, log=self.logfile)

    def stop(self) -> None:
        stop_pidfile(self.pidfile, "spamd")
