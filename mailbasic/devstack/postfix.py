"""Postfix of the stack: MX port, submission (STARTTLS) and submissions (implicit TLS)."""

from __future__ import annotations

import os
from functools import partial

from mailbasic import mtaconfig
from mailbasic.config import Settings
from mailbasic.devstack.layout import HOST, Layout, Ports
from mailbasic.devstack.process import (
    chown,
    greeting,
    is_running,
    read_pid,
    run,
    start_daemon,
    stop_pidfile,
    wait_until,
)
from mailbasic.devstack.templating import render
from mailbasic.devstack.tls import Certificates


class Postfix:
    name = "postfix"

    def __init__(self, layout: Layout, ports: Ports, settings: Settings,
                 certificates: Certificates, lmtp_socket: str, auth_socket: str) -> None:
        self.layout, self.ports = layout, ports
        self.settings, self.certificates = settings, certificates
        self.lmtp_socket, self.auth_socket = lmtp_socket, auth_socket
        self.directory = layout.component(self.name)
        self.config_directory = self.directory / "etc"
        self.queue_directory = self.directory / "queue"
        self.logfile = layout.log(self.name)

    @property
    def environment(self) -> dict[str, str]:
        """For sendmail/postqueue/postconf: use this instance, not /etc/postfix."""
        return {**os.environ, "MAIL_CONFIG": str(self.config_directory)}

    def launch(self) -> None:
        self._write_config()
        self.postfix("check")
        start_daemon(["postfix", "-c", str(self.config_directory), "start"], self.logfile)

    def wait_ready(self) -> None:
        for port in (self.ports.smtp, self.ports.submission):
            wait_until(partial(greeting, port, b"220"), what=f"Postfix on port {port}",
                       timeout=30, log=self.logfile)

    def stop(self) -> None:
        pidfile = self.queue_directory / "pid" / "master.pid"
        pid = read_pid(pidfile)
        if pid is not None and is_running(pid):
            self.postfix("stop")
            stop_pidfile(pidfile, "Postfix")

    def postfix(self, *arguments: str) -> str:
        return run(["postfix", "-c", str(self.config_directory), *arguments])

    def _write_config(self) -> None:
        for directory in (self.config_directory, self.queue_directory,
                          self.directory / "data"):
            directory.mkdir(parents=True, exist_ok=True)
        chown(self.directory / "data", "postfix")
        render("main.cf", self.config_directory / "main.cf",
               queue_directory=self.queue_directory, data_directory=self.directory / "data",
               log_file=self.logfile, log_directory=self.logfile.parent, host=HOST,
               service_domain=self.settings.service_domain,
               lmtp_socket=self.lmtp_socket, auth_socket=self.auth_socket,
               lookups=mtaconfig.postfix_main_cf(self.settings),
               key=self.certificates.key, certificate=self.certificates.certificate,
               milter_socket=self.settings.milter_socket.removeprefix("unix:"),
               policy_socket=self.settings.policy_socket.removeprefix("unix:"))
        render("master.cf", self.config_directory / "master.cf", host=HOST,
               policy_socket=self.settings.policy_socket.removeprefix("unix:"),
               smtp_port=self.ports.smtp, submission_port=self.ports.submission,
               smtps_port=self.ports.smtps)
