"""The mailbasic milter of the stack, run as `mailbasic milter` in the background."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mailbasic.devstack.layout import Layout
from mailbasic.devstack.process import accepts_connections, stop_pidfile, wait_until


class MilterDaemon:
    name = "milter"

    def __init__(self, layout: Layout, port: int) -> None:
        self.layout, self.port = layout, port
        self.pidfile = layout.component(self.name) / "milter.pid"
        self.logfile = layout.log(self.name)
        self.process: subprocess.Popen | None = None

    def launch(self) -> None:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        executable = Path(sys.executable).with_name("mailbasic")
        with self.logfile.open("ab") as log:
            self.process = subprocess.Popen(
                [str(executable), "--config", str(self.layout.config_file), "milter"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # outlives `mailbasic-stack up`
        self.pidfile.write_text(f"{self.process.pid}\n")

    def wait_ready(self) -> None:
        wait_until(lambda: accepts_connections(self.port), what="mailbasic milter",
                   timeout=30, log=self.logfile)

    def stop(self) -> None:
        if self.process is None:  # started by an earlier `mailbasic-stack up`
            stop_pidfile(self.pidfile, "mailbasic milter")
            return
        self.process.terminate()  # our child: wait for it, or it lingers as a zombie
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
