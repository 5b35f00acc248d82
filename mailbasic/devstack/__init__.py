"""The local stack: every real server of the service, on loopback, under one directory.

`make run` starts it (`mailbasic-stack up`), the test fixtures start another one under a
temporary directory with free ports. Nothing in /etc is touched.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from mailbasic import db
from mailbasic.config import Settings, render_settings
from mailbasic.devstack.clamd import Clamd
from mailbasic.devstack.daemons import LogReaderDaemon, ServiceDaemon, TcpServiceDaemon
from mailbasic.devstack.dns import DnsServer, default_records
from mailbasic.devstack.dovecot import Dovecot
from mailbasic.devstack.layout import HOST, Layout, Ports, StackState
from mailbasic.devstack.nginx import WORKER_GROUP, Nginx
from mailbasic.devstack.postfix import Postfix
from mailbasic.devstack.postgres import DATABASE, Postgres
from mailbasic.devstack.process import StackError
from mailbasic.devstack.rspamd import Rspamd
from mailbasic.devstack.sogo import Sogo
from mailbasic.devstack.sogo import cache_socket as sogo_cache_socket
from mailbasic.devstack.spamd import Spamd
from mailbasic.devstack.tls import Certificates
from mailbasic.mtaconfig import DatabaseAccess
from mailbasic.schema.privileges import ComponentRole

__all__ = ["HOST", "Stack", "StackError"]


class Server(Protocol):
    """One server of the stack, as up and down handle it."""

    @property
    def name(self) -> str: ...

    def launch(self) -> None: ...

    def wait_ready(self) -> None: ...

    def stop(self) -> None: ...


class Stack:
    def __init__(self, root: Path, ports: Ports | None = None,
                 service_domain: str = "example.net", **overrides: Any) -> None:
        """`overrides` replace settings of the stack's services (tests lower limits)."""
        self.layout = Layout(root.resolve())
        if self.layout.state_file.exists():
            self.state = StackState.load(self.layout.state_file)
        else:
            self.state = StackState.new(ports or Ports.fixed(), service_domain)
        ports = self.ports = self.state.ports
        # Each component's own database role, with a password of its own derived from the
        # stack's (stable across restarts, different for every stack).
        self.component_passwords = {
            role.value: hashlib.sha256(f"{role.value}:{self.state.database_password}"
                                       .encode()).hexdigest()
            for role in ComponentRole}
        self.postgres = Postgres(self.layout, ports.postgres, self.state.database_password,
                                 self.component_passwords)
        postfix_config = self.layout.component("postfix") / "etc"
        # The stack's SRS secret, the portal's cookie key and the collection passwords'
        # key: stable across restarts, different for every stack.
        srs_secret = self._secret(b"srs:").hex()
        portal_secret = self._secret(b"portal:").hex()
        collect_key = base64.urlsafe_b64encode(self._secret(b"collect:")).decode()
        doveadm_api_key = self._secret(b"doveadm:").hex()
        # Salts the password hashes Dovecot sends the auth policy (auth_policy_hash_nonce).
        auth_policy_nonce = self._secret(b"auth-policy:").hex()
        dovecot_config = self.layout.component("dovecot") / "dovecot.conf"
        portal_socket = self.layout.component("portal") / "portal.sock"
        overrides = {"sendmail_path": "/usr/sbin/sendmail",
                     "postfix_config_directory": str(postfix_config),
                     "doveadm_command": ("doveadm", "-c", str(dovecot_config)),
                     "srs_secrets": (srs_secret,), "collect_key": collect_key,
                     # Every component tells Dovecot of changed logins through its API.
                     "doveadm_api_url": f"http://{HOST}:{ports.doveadm}/doveadm/v1",
                     "doveadm_api_key": doveadm_api_key,
                     # nginx's address: invitation and support links start with it.
                     "portal_base_url": f"https://{HOST}:{ports.https}",
                     # The portal's autoconfiguration names the stack's own mail ports.
                     "client_imaps_port": ports.imaps, "client_imap_port": ports.imap,
                     "client_pop3s_port": ports.pop3s, "client_pop3_port": ports.pop3,
                     "client_submissions_port": ports.smtps,
                     "client_submission_port": ports.submission,
                     # A change of a login's rights drops it from the webmail's cache.
                     "webmail_cache_socket": str(sogo_cache_socket(self.layout)),
                     **overrides}
        self.settings = Settings(database_url=self.postgres.url(),
                                 service_domain=self.state.service_domain,
                                 mail_root=str(self.layout.mail),
                                 milter_socket=f"unix:{self.layout.component('milter')}"
                                               "/milter.sock",
                                 # Forked workers as on a server of several cores, on any
                                 # machine: the stack's tests go through them.
                                 milter_workers=2,
                                 policy_socket=f"unix:{self.layout.component('policy')}"
                                               "/policy.sock",
                                 srs_socket=f"unix:{self.layout.component('srs')}/srs.sock",
                                 lookup_socket=f"unix:{self.layout.component('lookups')}"
                                               "/lookups.sock",
                                 spool_directory=str(self.layout.component("milter")
                                                     / "spool"),
                                 # Postfix's maillog_file (postfix.py), read as it grows.
                                 delivery_log_file=str(self.layout.log("postfix")),
                                 delivery_log_poll_seconds=0.1,
                                 spamd_host=HOST, spamd_port=ports.spamd,
                                 rspamd_host=HOST, rspamd_port=ports.rspamd,
                                 auth_policy_socket=f"inet:{ports.auth_policy}@{HOST}",
                                 clamd_host=HOST, clamd_port=ports.clamd,
                                 # The milter's SPF/DKIM/DMARC checks ask the stack's
                                 # dnsmasq (the test zones), as rspamd does.
                                 dns_nameservers=(f"{HOST}:{ports.dns}",),
                                 portal_socket=f"unix:{portal_socket}",
                                 **self._managesieve_settings(), **overrides)
        # The milter and the policy daemon log in as the daemon role; the SRS table needs
        # no database at all. The admin's settings (layout.config_file) are the CLI's.
        self.daemon_settings = replace(self.settings, database_url=self.postgres.url(
            role=ComponentRole.DAEMON.value))
        self.srs_settings = replace(self.settings, database_url=None)
        self.lookup_settings = replace(self.settings, database_url=self.postgres.url(
            role=ComponentRole.POSTFIX.value))
        # The portal logs in as its own role; only its config holds the cookie key.
        self.portal_settings = replace(self.settings, database_url=self.postgres.url(
            role=ComponentRole.PORTAL.value), portal_secret_key=portal_secret)
        # ManageSieve logs in as its own role: the scripts, filters and vacation only.
        self.managesieve_settings = replace(self.settings, database_url=self.postgres.url(
            role=ComponentRole.MANAGESIEVE.value))
        self.certificates = Certificates(self.layout.tls)
        self.dovecot = Dovecot(self.layout, ports, self.settings, self.certificates,
                               self.component_access(ComponentRole.DOVECOT), doveadm_api_key,
                               auth_policy_nonce)
        self.postfix = Postfix(self.layout, ports, self.settings, self.certificates,
                               str(self.dovecot.lmtp_socket), str(self.dovecot.auth_socket))
        self.spamd = Spamd(self.layout, ports.spamd)
        # A resolver that answers at once (the test zones, NXDOMAIN for the rest), and
        # rspamd, the second spam engine (spam.engine), asking it.
        self.dns = DnsServer(self.layout, ports.dns, default_records(self.state.service_domain))
        self.rspamd = Rspamd(self.layout, ports.rspamd, self.dns.address)
        daemons_config = self.layout.root / "daemons.toml"
        self.milter = ServiceDaemon(self.layout, "milter", daemons_config)
        self.policy = ServiceDaemon(self.layout, "policy", daemons_config)
        # Dovecot asks it before every login: started before Dovecot, which refuses
        # logins while it does not answer.
        self.auth_policy = TcpServiceDaemon(self.layout, "auth-policy", daemons_config,
                                            ports.auth_policy)
        self.managesieve = TcpServiceDaemon(self.layout, "managesieve",
                                            self.layout.root / "managesieve.toml",
                                            ports.managesieve)
        self.srs = ServiceDaemon(self.layout, "srs", self.layout.root / "srs.toml")
        self.lookups = ServiceDaemon(self.layout, "lookups", self.layout.root / "lookups.toml")
        self.delivery_log = LogReaderDaemon(self.layout, "delivery-log", daemons_config)
        self.clamd = Clamd(self.layout, ports.clamd)
        # The customer portal: waitress on a socket only nginx's workers reach, nginx
        # with TLS in front (https://127.0.0.1:PORT).
        self.portal = ServiceDaemon(self.layout, "portal", self.layout.root / "portal.toml",
                                    group=WORKER_GROUP)
        self.nginx = Nginx(self.layout, ports.https, self.certificates, portal_socket,
                           Path(__file__).resolve().parents[1] / "portal" / "static",
                           f"mail.{self.state.service_domain}", f"{HOST}:{ports.sogo}")
        self.sogo = Sogo(self.layout, ports.sogo, self._sogo_values())

    def _managesieve_settings(self) -> dict[str, Any]:
        """On its loopback port, logins through Dovecot's auth socket for it, as deployed
        (the dovecot role's dovecot_managesieve_auth_socket, in Dovecot's run directory)."""
        certificates = Certificates(self.layout.tls)
        return {"managesieve_socket": f"inet:{self.ports.managesieve}@{HOST}",
                "managesieve_auth_socket": str(self.layout.component("dovecot") / "run"
                                               / "auth-managesieve"),
                "managesieve_certificate": str(certificates.certificate),
                "managesieve_key": str(certificates.key),
                # SOGo, the stack's webmail, saves its filters as the script "sogo".
                "managesieve_default_script": "sogo"}

    def _sogo_values(self) -> dict[str, Any]:
        """The webmail logs in to the stack's database as its own role, reads mail on
        Dovecot's webmail listener, sends through submission, filters through
        ManageSieve: the deployment's paths on the stack's ports."""
        return {"sogo_database_host": HOST, "sogo_database_port": self.ports.postgres,
                "sogo_database_name": DATABASE,
                "sogo_database_user": ComponentRole.SOGO.value,
                "sogo_database_password": self.component_passwords[ComponentRole.SOGO.value],
                "sogo_imap_host": self.settings.webmail_imap_address,
                "sogo_imap_port": self.ports.webmail_imap,
                "sogo_smtp_host": HOST, "sogo_smtp_port": self.ports.submission,
                "sogo_sieve_host": HOST, "sogo_sieve_port": self.ports.managesieve,
                "sogo_mail_domain": self.state.service_domain, "sogo_workers": 3}

    def _secret(self, purpose: bytes) -> bytes:
        """32 bytes for one purpose, derived from the stack's database password."""
        return hashlib.sha256(purpose + self.state.database_password.encode()).digest()

    def component_access(self, role: ComponentRole) -> DatabaseAccess:
        return DatabaseAccess.for_component(self.settings, role,
                                            self.component_passwords[role.value])

    @property
    def servers(self) -> list[Server]:
        return [self.dns, self.rspamd, self.spamd, self.clamd, self.postgres, self.milter,
                self.policy, self.srs, self.lookups, self.auth_policy, self.dovecot, self.postfix,
                self.delivery_log, self.portal, self.nginx, self.managesieve, self.sogo]

    def prepare(self) -> None:
        """Directories, state, the mailbasic config and certificates; starts nothing."""
        if os.geteuid() != 0:
            raise StackError("the local stack runs Postfix and Dovecot, which need root")
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.root.chmod(0o755)  # the servers' own users must reach their files
        self.layout.logs.mkdir(exist_ok=True)
        self.state.save(self.layout.state_file)
        for path, settings in ((self.layout.config_file, self.settings),
                               (self.milter.config, self.daemon_settings),
                               (self.srs.config, self.srs_settings),
                               (self.lookups.config, self.lookup_settings),
                               (self.portal.config, self.portal_settings),
                               (self.managesieve.config, self.managesieve_settings)):
            path.write_text(render_settings(settings))
            path.chmod(0o600)
        self.certificates.create(f"mail.{self.state.service_domain}")

    def start_database(self) -> None:
        """PostgreSQL up, its role and database there, the schema migrated."""
        self.postgres.launch()
        self.postgres.wait_ready()
        db.upgrade(self.settings)

    def up(self) -> None:
        self.prepare()
        started: list[Server] = []
        try:
            started.append(self.dns)
            self.dns.launch()
            self.dns.wait_ready()
            for scanner in (self.rspamd, self.spamd, self.clamd):  # slow: started first
                scanner.launch()
                started.append(scanner)
            started.append(self.postgres)
            self.start_database()
            for server in (self.milter, self.policy, self.srs, self.lookups,
                           self.auth_policy, self.dovecot, self.postfix, self.delivery_log,
                           self.portal, self.nginx, self.managesieve, self.sogo):
                started.append(server)
                server.launch()
                server.wait_ready()
            for scanner in (self.rspamd, self.spamd, self.clamd):
                scanner.wait_ready()
        except BaseException:
            self._stop(reversed(started))
            raise

    def down(self) -> None:
        self._stop(reversed(self.servers))

    @staticmethod
    def _stop(servers: Iterable[Server]) -> None:
        failures = []
        for server in servers:
            try:
                server.stop()
            except (StackError, OSError) as error:    # the others are stopped all the same
                failures.append(f"{server.name}: {error}")
        if failures:
            raise StackError("some servers did not stop:\n" + "\n".join(failures))

    def describe(self) -> str:
        p = self.ports
        return "\n".join([
            f"mailbasic local stack in {self.layout.root}",
            f"  SMTP (MX)            {HOST}:{p.smtp}",
            f"  submission STARTTLS  {HOST}:{p.submission}   submissions TLS {HOST}:{p.smtps}",
            f"  IMAP STARTTLS        {HOST}:{p.imap}   IMAPS {HOST}:{p.imaps}",
            f"  POP3 STARTTLS        {HOST}:{p.pop3}   POP3S {HOST}:{p.pop3s}",
            f"  PostgreSQL           {HOST}:{p.postgres} (database mailbasic)",
            f"  spamd {HOST}:{p.spamd}   clamd {HOST}:{p.clamd}   rspamd {HOST}:{p.rspamd}"
            f" (the milter asks rspamd; spamd with spam.engine = \"spamassassin\")",
            f"  DNS (dnsmasq)        {HOST}:{p.dns} (test zones: {self.dns.zones})",
            f"  mailbasic milter     {self.milter.socket}",
            f"  mailbasic policy     {self.policy.socket}",
            f"  mailbasic srs        {self.srs.socket}",
            f"  mailbasic lookups    {self.lookups.socket}",
            f"  mailbasic auth-policy http://{HOST}:{p.auth_policy}/ (Dovecot's logins)",
            f"  ManageSieve          {HOST}:{p.managesieve} (STARTTLS; mailbasic managesieve)",
            f"  webmail (SOGo)       {self.nginx.url}/SOGo/ (CalDAV/CardDAV at "
            f"{self.nginx.url}/SOGo/dav/)",
            f"  customer portal      {self.nginx.url}/ (nginx; mailbasic portal on "
            f"{self.portal.socket})",
            f"  delivery record      mailbasic delivery-log reads {self.layout.log('postfix')}",
            f"  logs                 {self.layout.logs}",
            f"  test CA certificate  {self.certificates.ca}",
            "",
            "Add a customer and log in:",
            f"  export MAILBASIC_CONFIG={self.layout.config_file}",
            f"  .venv/bin/mailbasic domain add {self.state.service_domain}",
            "  echo 'a long secret' | .venv/bin/mailbasic customer add alice"
            f" --domain {self.state.service_domain} --password-stdin",
            f"  then log in as alice@{self.state.service_domain} over IMAP/POP3/submission",
            "Log in to the customer portal as alice:",
            "  echo 'a portal secret' | .venv/bin/mailbasic customer passwd alice"
            " --password-stdin",
            "  (or .venv/bin/mailbasic customer invite alice: a one-time link to set it)",
            f"  then open {self.nginx.url}/ (its certificate is the test CA's above)",
            "Stop it with: make stop",
        ])
