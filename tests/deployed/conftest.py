"""The service as Ansible deployed it on this host: its real ports, its own database.

`make test` runs ansible/site.yml against this machine first (scripts/deploy-and-check)
and then sets MAILBASIC_DEPLOYED=1; without it these tests are skipped, with the reason.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

CONFIG = Path("/etc/mailbasic/mailbasic.toml")
COMMAND = ["/opt/mailbasic/venv/bin/mailbasic", "--config", str(CONFIG)]
# The roles' default self-signed certificate (inventory/local.ini keeps it).
CERTIFICATE = Path("/etc/mailbasic/tls/mail.crt")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("MAILBASIC_DEPLOYED") == "1":
        return
    skip = pytest.mark.skip(reason="needs the Ansible deployment: `make test` deploys first "
                                   "and sets MAILBASIC_DEPLOYED=1")
    for item in items:
        if Path(__file__).parent in Path(item.path).parents:
            item.add_marker(skip)


def mailbasic(*arguments: str, input: str | None = None) -> str:
    """The deployed CLI, as an operator runs it."""
    done = subprocess.run([*COMMAND, *arguments], input=input, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"mailbasic {' '.join(arguments)}: {done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Customer:
    domain: str
    alice: tuple[str, str]
    bobby: tuple[str, str]


@pytest.fixture(scope="session")
def customer():
    """A first customer as the README tells an operator to make one: a domain, a
    customer with its first mailbox, a second mailbox. The customer and the domain are
    removed again afterwards."""
    tag = uuid.uuid4().hex[:10]
    domain = f"d{tag}.example"
    name = f"alice{tag}"
    alice = (f"{name}@{domain}", "alice's deployed secret")
    bobby = (f"bobby{tag}@{domain}", "bobby's deployed secret")
    mailbasic("domain", "add", domain)
    mailbasic("customer", "add", name, "--domain", domain, "--password-stdin",
              input=alice[1] + "\n")
    mailbasic("mailbox", "add", name, bobby[0], "--password-stdin", input=bobby[1] + "\n")
    yield Customer(domain, alice, bobby)
    mailbasic("customer", "delete", name, "--yes")
    mailbasic("domain", "remove", domain)


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """Trusts exactly the deployed certificate; the tests connect to 127.0.0.1, not to
    the name in it."""
    context = ssl.create_default_context(cafile=str(CERTIFICATE))
    context.check_hostname = False
    return context
