"""Dovecot of the stack: IMAP and POP3 (STARTTLS and implicit TLS), LMTP, SASL for Postfix."""

from __future__ import annotations

import grp
import os
import pwd
from functools import partial

from mailbasic import mtaconfig
from mailbasic.config import Settings
from mailbasic.devstack.layout import HOST, Layout, Ports
from mailbasic.devstack.process import chown, greeting, run, start_daemon, stop_pidfile, wait_until
from mailbasic.devstack.templating import render_role_template, role_file
from mailbasic.devstack.tls import Certificates
from mailbasic.mtaconfig import DatabaseAccess

# Maildirs belong to Debian's `mail` user (uid 8, in base-passwd on every Debian):
# no account has to be created on the developer's machine.
MAIL_USER = "mail"


class Dovecot:
    name = "dovecot"

    def __init__(self, layout: Layout, ports: Ports, settings: Settings,
                 certificates: Certificates, access: DatabaseAccess,
                 doveadm_api_key: str, auth_policy_nonce: str) -> None:
        self.layout, self.ports, self.access = layout, ports, access
        self.doveadm_api_key, self.auth_policy_nonce = doveadm_api_key, auth_policy_nonce
        self.settings, self.certificates = settings, certificates
        self.directory = layout.component(self.name)
        self.config = self.directory / "dovecot.conf"
        self.run_dir = self.directory / "run"
        self.lmtp_socket = self.directory / "lmtp"
        self.auth_socket = self.directory / "auth-postfix"
        self.logfile = layout.log(self.name)

    def launch(self) -> None:
        self._write_config()
        start_daemon(["dovecot", "-c", str(self.config)], self.logfile)

    def wait_ready(self) -> None:
        for port, banner in ((self.ports.imap, b"* OK"), (self.ports.pop3, b"+OK")):
            wait_until(partial(greeting, port, banner), what=f"Dovecot on port {port}",
                       timeout=30, log=self.logfile)
        wait_until(self.lmtp_socket.exists, what="Dovecot LMTP socket", timeout=30,
                   log=self.logfile)

    def stop(self) -> None:
        stop_pidfile(self.run_dir / "master.pid", "Dovecot")

    def doveadm(self, *arguments: str, input: str | None = None) -> str:
        return run(["doveadm", "-c", str(self.config), *arguments], input=input)

    def _write_config(self) -> None:
        mail_uid = pwd.getpwnam(MAIL_USER).pw_uid
        self.layout.mail.mkdir(parents=True, exist_ok=True)
        chown(self.layout.mail, MAIL_USER)
        (self.directory / "state").mkdir(parents=True, exist_ok=True)
        # The files the deployed dovecot.conf includes, in the stack's own directory;
        # Dovecot's dict process runs as its internal user.
        files = mtaconfig.dovecot_files(self.settings, self.access, str(self.directory))
        files[mtaconfig.DOVECOT_PASSDB_LUA] = role_file(
            "dovecot", mtaconfig.DOVECOT_PASSDB_LUA).read_text()
        for name, content in files.items():
            # As deployed: root's, readable by Dovecot's own processes (group dovecot).
            path = self.directory / name
            path.write_text(content)
            path.chmod(0o640)
            os.chown(path, 0, grp.getgrnam("dovecot").gr_gid)
        api_conf = self.directory / "doveadm-api.conf.ext"
        api_conf.write_text(f"doveadm_api_key = {self.doveadm_api_key}\n")
        api_conf.chmod(0o600)
        policy_conf = self.directory / "auth-policy.conf.ext"
        policy_conf.write_text(f"auth_policy_hash_nonce = {self.auth_policy_nonce}\n")
        policy_conf.chmod(0o600)
        render_role_template("dovecot", "dovecot.conf.j2", self.config, {
            # An instance of its own on loopback ports; the role's defaults (TLS, mailboxes,
            # plugins) apply as they are.
            "dovecot_listen": HOST, "dovecot_imap_port": self.ports.imap,
            "dovecot_imaps_port": self.ports.imaps, "dovecot_pop3_port": self.ports.pop3,
            "dovecot_webmail_imap_address": self.settings.webmail_imap_address,
            "dovecot_webmail_imap_port": self.ports.webmail_imap,
            "dovecot_pop3s_port": self.ports.pop3s, "dovecot_base_dir": str(self.run_dir),
            "dovecot_state_dir": str(self.directory / "state"),
            "dovecot_instance_name": f"mailbasic-{self.ports.imap}",
            "dovecot_log_path": str(self.logfile), "dovecot_config_dir": str(self.directory),
            "dovecot_tls_certificate": str(self.certificates.certificate),
            "dovecot_tls_key": str(self.certificates.key),
            "dovecot_mail_user": MAIL_USER, "dovecot_first_valid_uid": mail_uid,
            "dovecot_lmtp_socket": str(self.lmtp_socket),
            "dovecot_auth_socket": str(self.auth_socket),
            "dovecot_doveadm_http_port": self.ports.doveadm,
            "dovecot_auth_policy_url": f"http://{HOST}:{self.ports.auth_policy}/",
            "dovecot_quota_status": True,  # bench/policy_bench.py measures against it
        })
