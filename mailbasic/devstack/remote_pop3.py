"""A second Dovecot, POP3 only, with its own users (passwd-file) and mail: the external
provider whose mail the POP3 collection tests fetch."""

from __future__ import annotations

import pwd
from pathlib import Path

from mailbasic.devstack.dovecot import MAIL_USER
from mailbasic.devstack.layout import HOST
from mailbasic.devstack.process import (
    chown,
    free_port,
    greeting,
    run,
    start_daemon,
    stop_pidfile,
    wait_until,
)
from mailbasic.devstack.templating import render
from mailbasic.devstack.tls import Certificates


class RemotePop3:
    name = "remote-pop3"

    def __init__(self, directory: Path, certificates: Certificates) -> None:
        self.directory = directory
        self.certificates = certificates
        self.config = directory / "dovecot.conf"
        self.users_file = directory / "users"
        self.logfile = directory / "dovecot.log"
        self.pop3_port, self.pop3s_port = free_port(), free_port()

    def launch(self, users: dict[str, str]) -> None:
        mail = pwd.getpwnam(MAIL_USER)
        for path in (self.directory / "run", self.directory / "state",
                     self.directory / "mail"):
            path.mkdir(parents=True, exist_ok=True)
        chown(self.directory / "mail", MAIL_USER)
        self.users_file.write_text("".join(f"{user}:{{PLAIN}}{password}\n"
                                           for user, password in users.items()))
        self.users_file.chmod(0o600)
        chown(self.users_file, "dovecot")  # Dovecot's auth process reads it
        render("remote-pop3.conf", self.config, host=HOST,
               run_dir=self.directory / "run", state_dir=self.directory / "state",
               instance_name=f"mailbasic-remote-{self.pop3_port}", log_file=self.logfile,
               certificate=self.certificates.certificate, key=self.certificates.key,
               mail_user=MAIL_USER, mail_uid=mail.pw_uid, mail_gid=mail.pw_gid,
               users_file=self.users_file, mail_dir=self.directory / "mail",
               pop3_port=self.pop3_port, pop3s_port=self.pop3s_port)
        start_daemon(["dovecot", "-c", str(self.config)], self.logfile)
        wait_until(lambda: greeting(self.pop3_port, b"+OK"), what="the remote POP3 server",
                   timeout=30, log=self.logfile)

    def stop(self) -> None:
        stop_pidfile(self.directory / "run" / "master.pid", "remote Dovecot")

    def deliver(self, user: str, message: bytes) -> None:
        """Put a message into the user's INBOX, as the provider's own delivery would."""
        run(["doveadm", "-c", str(self.config), "save", "-u", user], input=message.decode())

    def count(self, user: str) -> int:
        found = run(["doveadm", "-c", str(self.config), "search", "-u", user, "all"])
        return len(found.splitlines())
