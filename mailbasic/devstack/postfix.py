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
from mailbasic.devstack.templating import render_role_template
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
        self.transport_file = self.config_directory / "transport"

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
        if not self.transport_file.exists():
            self.transport_file.write_text("")
        values = self._role_values()
        for name in ("main.cf", "master.cf"):
            render_role_template("postfix", f"{name}.j2", self.config_directory / name, values)

    def _role_values(self) -> dict[str, object]:
        """The postfix role's variables where the stack differs from a host: an instance
        of its own on loopback ports, no local delivery, no internet. The role's defaults
        (TLS, anvil limits, restrictions) apply as they are."""
        domain = self.settings.service_domain
        return {
            "postfix_queue_directory": str(self.queue_directory),
            "postfix_data_directory": str(self.directory / "data"),
            "postfix_maillog_file": str(self.logfile),
            "postfix_maillog_file_prefixes": str(self.logfile.parent),
            "postfix_inet_interfaces": HOST,
            "postfix_inet_protocols": "ipv4",
            "postfix_smtp_service": f"{HOST}:{self.ports.smtp}",
            "postfix_submission_service": f"{HOST}:{self.ports.submission}",
            "postfix_submissions_service": f"{HOST}:{self.ports.smtps}",
            "postfix_domain": domain,
            "postfix_hostname": f"mail.{domain}",
            # Nothing may reach the developer's own /var/mail or the internet.
            "postfix_mydestination": "",
            "postfix_alias_maps": "",
            "postfix_offline": True,
            # Tests route a domain to a scripted "remote MX" on loopback through this file
            # (and `postfix reload`); it wins over the offline default_transport.
            "postfix_transport_maps": f"texthash:{self.transport_file}",
            "postfix_lmtp_destination": f"unix:{self.lmtp_socket}",
            "postfix_sasl_path": self.auth_socket,
            "postfix_milter_socket": self.settings.milter_socket,
            "postfix_policy_socket": self.settings.policy_socket,
            "postfix_mailbasic_main_cf": mtaconfig.postfix_main_cf(self.settings),
            "postfix_tls_certificate": str(self.certificates.certificate),
            "postfix_tls_key": str(self.certificates.key),
            # Every client of the tests, the benchmarks and the soak test connects from
            # 127.0.0.1: the soak test alone opens some 750 connections a minute, over
            # the deployed limit per client address (120).
            "postfix_client_connection_rate_limit": 0,
        }
