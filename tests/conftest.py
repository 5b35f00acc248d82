"""Fixtures that start the real servers of the local stack, one fixture per server.

The stack lives in a fresh temporary directory with free loopback ports, so a test run
never touches /etc or a `make run` instance. Each server is polled until it answers.
"""

from __future__ import annotations

import itertools
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailbasic import db
from mailbasic.cli import main as cli_main
from mailbasic.config import Settings, render_settings
from mailbasic.devstack import Stack
from mailbasic.devstack.layout import Ports

TEMPLATE_DATABASE = "mailbasic_template"
RATE_LIMIT_RECIPIENTS = 40
ROLE_MAILBOX = "hostmaster-desk@example.net"
DATABASE_DEADLINE = 5.0
AUTH_POLICY_LIMITS = {"auth_free_failures": 3, "auth_max_delay_seconds": 4,
                      "auth_client_block_failures": 10, "auth_account_block_failures": 10,
                      "auth_block_minutes": 10, "auth_trusted_networks": ("127.0.0.1/32",)}
_database_numbers = itertools.count(1)


def start(server) -> None:
    server.launch()
    server.wait_ready()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="mailbasic-test-stack-"))
    # A recipient rate limit low enough for a test to reach through Postfix.
    # A role mailbox for postmaster@ and abuse@ (tests/e2e/test_mail_path.py makes it).
    # A short database deadline: tests/e2e/test_faults.py waits it out with a frozen
    # PostgreSQL.
    # The brute-force defence with short delays and an early block, so that
    # tests/e2e/test_brute_force.py gets there in a minute; every other test logs in from
    # 127.0.0.1, trusted here (counted by account only), so that no test's wrong
    # passwords hold back another's logins.
    stack = Stack(root, Ports.free(), rate_recipients_per_hour=RATE_LIMIT_RECIPIENTS,
                  role_mailbox=ROLE_MAILBOX, database_deadline=DATABASE_DEADLINE,
                  **AUTH_POLICY_LIMITS)
    stack.prepare()
    yield stack
    stack.down()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(stack: Stack) -> Stack:
    """PostgreSQL with the stack's database migrated, and a migrated template database."""
    stack.start_database()
    template_url = stack.postgres.create_database(TEMPLATE_DATABASE)
    db.upgrade(replace(stack.settings, database_url=template_url))
    return stack


@pytest.fixture(scope="session")
def auth_policy(postgres: Stack) -> Stack:
    """`mailbasic auth-policy`, which Dovecot asks before every login."""
    start(postgres.auth_policy)
    return postgres


@pytest.fixture(scope="session")
def dovecot(auth_policy: Stack) -> Stack:
    """Dovecot refuses every login while its auth policy does not answer: it comes first."""
    start(auth_policy.dovecot)
    return auth_policy


@pytest.fixture(scope="session")
def managesieve(dovecot: Stack) -> Stack:
    """`mailbasic managesieve` on stack.ports.managesieve; logins through Dovecot's auth."""
    start(dovecot.managesieve)
    return dovecot


@pytest.fixture(scope="session")
def milter(rspamd: Stack, clamd: Stack, dns: Stack, postgres: Stack) -> Stack:
    """The milter, with its scanners (rspamd, the default spam engine, and clamd) and the
    resolver its sender checks ask. A test of SpamAssassin asks for `spamd` itself."""
    start(postgres.milter)
    return postgres


@pytest.fixture(scope="session")
def policy(postgres: Stack) -> Stack:
    start(postgres.policy)
    return postgres


@pytest.fixture(scope="session")
def srs(postgres: Stack) -> Stack:
    start(postgres.srs)
    return postgres


@pytest.fixture(scope="session")
def lookups(postgres: Stack) -> Stack:
    start(postgres.lookups)
    return postgres


@pytest.fixture(scope="session")
def postfix(dovecot: Stack, milter: Stack, policy: Stack, srs: Stack,
            lookups: Stack) -> Stack:
    start(dovecot.postfix)
    return dovecot


@pytest.fixture(scope="session")
def delivery_log(postfix: Stack) -> Stack:
    """`mailbasic delivery-log` reading the stack's Postfix log."""
    start(postfix.delivery_log)
    return postfix


@pytest.fixture(scope="session")
def portal(postgres: Stack) -> Stack:
    """The customer portal as browsers reach it: nginx with TLS on stack.nginx.url in
    front of `mailbasic portal` (its own database role). It serves the stack's own
    database (postgres.settings): make accounts there, under names of their own."""
    start(postgres.portal)
    start(postgres.nginx)
    return postgres


@pytest.fixture(scope="session")
def sogo(postfix: Stack, managesieve: Stack, portal: Stack) -> Stack:
    """The webmail (SOGo) as browsers and CalDAV/CardDAV clients reach it: nginx with TLS
    at stack.nginx.url + "/SOGo", reading mail on Dovecot's webmail listener, sending
    through submission, filters through ManageSieve. Its logins are the stack's
    mailboxes (make them with names of their own)."""
    start(postfix.sogo)
    return postfix


@pytest.fixture(scope="session")
def spamd(stack: Stack) -> Stack:
    start(stack.spamd)
    return stack


@pytest.fixture(scope="session")
def clamd(stack: Stack) -> Stack:
    start(stack.clamd)
    return stack


@pytest.fixture(scope="session")
def dns(stack: Stack) -> Stack:
    """dnsmasq on loopback: the test zones (mailbasic/devstack/dns.py), NXDOMAIN else."""
    start(stack.dns)
    return stack


@pytest.fixture(scope="session")
def rspamd(dns: Stack) -> Stack:
    """rspamd, the default spam engine, asking the stack's DNS server."""
    start(dns.rspamd)
    return dns


@pytest.fixture
def settings(postgres: Stack) -> Iterator[Settings]:
    """Settings on a fresh, migrated database of its own for this test."""
    name = f"mailbasic_test_{next(_database_numbers)}"
    url = postgres.postgres.create_database(name, template=TEMPLATE_DATABASE)
    # bcrypt's cheapest cost: these tests check rules, not hash strength.
    yield replace(postgres.settings, database_url=url, bcrypt_cost=4)
    postgres.postgres.drop_database(name)


@pytest.fixture
def engine(settings: Settings):
    engine = db.make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def tls_context(stack: Stack) -> ssl.SSLContext:
    """A client context that trusts only the stack's test CA, and checks host names."""
    return ssl.create_default_context(cafile=str(stack.certificates.ca))


class Cli:
    """Runs `mailbasic ...` in-process against a given database."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.config = directory / "mailbasic.toml"
        self.config.write_text(render_settings(settings))
        self.runner = CliRunner()

    def __call__(self, *arguments: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli_main, ["--config", str(self.config), *arguments],
                                  input=input, catch_exceptions=False,
                                  env={"MAILBASIC_CONFIG": None,
                                       "MAILBASIC_DATABASE_URL": None})

    def ok(self, *arguments: str, input: str | None = None) -> Result:
        result = self(*arguments, input=input)
        assert result.exit_code == 0, (arguments, result.output, result.stderr)
        return result

    def refused(self, exit_code: int, *arguments: str, input: str | None = None) -> str:
        """The one error line of a command that must fail with `exit_code`."""
        result = self(*arguments, input=input)
        assert result.exit_code == exit_code, (arguments, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mailbasic: error: "), result.stderr
        return lines[0]


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Cli:
    return Cli(settings, tmp_path)
