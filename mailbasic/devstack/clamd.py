"""clamd of the stack, with test signatures built at run time by sigtool.

freshclam cannot download here, so the database holds only the signatures the tests
need: the EICAR test file, by content (matches inside archives and attachments too).
"""

from __future__ import annotations

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import chown, request, run, start_daemon, stop_pidfile, wait_until
from mailbasic.devstack.templating import render

USER = "clamav"
EICAR_SIGNATURE_NAME = "Eicar-Test-Signature"
# The industry's harmless test file (https://www.eicar.org), split so that no scanner
# flags this source file itself.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


class Clamd:
    name = "clamd"

    def __init__(self, layout: Layout, port: int) -> None:
        self.port = port
        self.directory = layout.component(self.name)
        self.database = self.directory / "db"
        self.pidfile = self.directory / "clamd.pid"
        self.logfile = layout.log(self.name)

    def launch(self) -> None:
        self.database.mkdir(parents=True, exist_ok=True)
        self._build_signatures()
        self.logfile.touch()
        for path in (self.directory, self.database, self.logfile):
            chown(path, USER)
        config = render("clamd.conf", self.directory / "clamd.conf", pid_file=self.pidfile,
                        log_file=self.logfile, user=USER, database_directory=self.database,
                        host=HOST, port=self.port)
        start_daemon(["clamd", f"--config-file={config}"], self.logfile)

    def wait_ready(self) -> None:
        wait_until(lambda: request(self.port, b"zPING\0") == b"PONG\0", what="clamd",
                   timeout=120, log=self.logfile)

    def stop(self) -> None:
        stop_pidfile(self.pidfile, "clamd")

    def _build_signatures(self) -> None:
        signatures = self.database / "mailbasic-test.ndb"
        if signatures.exists():
            return
        hex_body = run(["sigtool", "--hex-dump"], input=EICAR.decode()).strip()
        # .ndb: name:target type (0 = any file):offset (* = anywhere):hex body
        signatures.write_text(f"{EICAR_SIGNATURE_NAME}:0:*:{hex_body}\n")
