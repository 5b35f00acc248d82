"""Where the local stack keeps its files, and which loopback ports it listens on."""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from mailbasic.devstack.process import free_port

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Ports:
    postgres: int
    smtp: int
    submission: int
    smtps: int
    imap: int
    imaps: int
    pop3: int
    pop3s: int
    spamd: int
    clamd: int
    https: int   # nginx in front of the customer portal
    doveadm: int  # Dovecot's doveadm HTTP API
    auth_policy: int  # `mailbasic auth-policy` (Dovecot's HTTP client needs TCP)
    managesieve: int  # `mailbasic managesieve` (RFC 5804; 4190 deployed)
    sogo: int  # the webmail's sogod (behind nginx at /SOGo)
    webmail_imap: int  # Dovecot's IMAP listener for the webmail alone
    rspamd: int  # rspamd's normal worker (HTTP /checkv2)
    dns: int  # dnsmasq: the test zones, NXDOMAIN for everything else (UDP and TCP)

    @classmethod
    def fixed(cls) -> Ports:
        """The ports `make run` uses: high, memorable, none of the privileged mail ports."""
        return cls(postgres=15432, smtp=10025, submission=10587, smtps=10465, imap=10143,
                   imaps=10993, pop3=10110, pop3s=10995, spamd=10783, clamd=13310,
                   https=10443, doveadm=11426, auth_policy=11045,
                   managesieve=10190, sogo=10200, webmail_imap=11143,
                   rspamd=10333, dns=10053)

    @classmethod
    def free(cls) -> Ports:
        """Ports nobody listens on now: test runs never collide with `make run`."""
        return cls(**{field.name: free_port() for field in dataclasses.fields(cls)})


@dataclass(frozen=True)
class StackState:
    """What a later `stack down` or a second `stack up` must know of the first start."""

    ports: Ports
    database_password: str
    service_domain: str

    @classmethod
    def new(cls, ports: Ports, service_domain: str) -> StackState:
        return cls(ports, secrets.token_urlsafe(18), service_domain)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> StackState:
        data = json.loads(path.read_text())
        # A stack made by another version may lack or have extra ports: defaults fill in.
        known = {field.name for field in dataclasses.fields(Ports)}
        ports = {**dataclasses.asdict(Ports.fixed()),
                 **{name: port for name, port in data["ports"].items() if name in known}}
        return cls(Ports(**ports), data["database_password"], data["service_domain"])


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def config_file(self) -> Path:
        """The mailbasic config of this stack, for the CLI and the services."""
        return self.root / "mailbasic.toml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    def component(self, name: str) -> Path:
        return self.root / name

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"
