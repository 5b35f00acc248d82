"""The host's caching resolver as Ansible deployed it (the unbound role): it answers on
loopback only, rspamd and the milter's sender checks ask it, and the deployed milter
scans with rspamd, the default engine. Every lookup here is a real DNS question to the
real unbound; inventory/local.ini gives the test host (no internet) a record of its own
and forwards everything else to the host's resolver, which answers at once."""

from __future__ import annotations

import email.utils
import io
import ipaddress
import json
import socket
import subprocess
import time
import tomllib
import uuid
from email.message import EmailMessage
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from mailbasic.config import load_settings
from mailbasic.scanners.rspamd import Envelope, RspamdClient
from tests.deployed.conftest import CONFIG
from tests.deployed.test_deployed_service import fetch_imaps, send_mx, unique

RESOLVER = "127.0.0.1:53"
# inventory/local.ini's unbound_local_data.
CHECK_NAME, CHECK_ADDRESS = "resolver-check.mailbasic.example.", "192.0.2.53"
# The milter's configuration file (the daemons' own credentials) beside the CLI's.
DAEMONS_CONFIG = CONFIG.with_name("daemons.toml")
RSPAMD_OPTIONS = Path("/etc/rspamd/local.d/options.inc")


def checkconf(option: str) -> list[str]:
    """The value unbound runs with, as its own checker reads the whole configuration."""
    done = subprocess.run(["unbound-checkconf", "-o", option], capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout.splitlines()


def ask(address: str, name: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, address, port=53, timeout=3)


def queries_answered() -> int:
    """unbound's count of questions since it started (over its unix control socket)."""
    done = subprocess.run(["unbound-control", "stats_noreset"], capture_output=True,
                          text=True, timeout=30, check=True)
    counters = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return int(counters["total.num.queries"])


def listening_on_port_53() -> list[str]:
    """Local addresses of every socket listening on port 53, TCP and UDP."""
    done = subprocess.run(["ss", "-H", "-l", "-n", "-t", "-u", "sport = :53"],
                          capture_output=True, text=True, timeout=30, check=True)
    return [line.split()[4].rpartition(":")[0].strip("[]").split("%")[0]
            for line in done.stdout.splitlines()]


def host_addresses() -> list[str]:
    """This host's own addresses that are not loopback (nor link-local, which need an
    interface to be reached)."""
    done = subprocess.run(["ip", "-j", "address", "show"], capture_output=True, text=True,
                          timeout=30, check=True)
    addresses = [ipaddress.ip_address(info["local"]) for interface in json.loads(done.stdout)
                 for info in interface.get("addr_info", [])]
    return [str(address) for address in addresses
            if not address.is_loopback and not address.is_link_local]


def interfaces() -> list[str]:
    return [value.partition("@")[0] for value in checkconf("interface")]


def test_unbound_answers_on_loopback_at_once():
    assert interfaces() and interfaces()[0] == "127.0.0.1"
    for address in interfaces():
        for tcp in (False, True):
            started = time.monotonic()
            answer = ask(address, CHECK_NAME, tcp=tcp)
            assert time.monotonic() - started < 1
            assert answer.rcode() == dns.rcode.NOERROR
            assert [item.address for rrset in answer.answer for item in rrset] == [CHECK_ADDRESS]
            localhost = ask(address, "localhost.", tcp=tcp)
            assert [item.address for rrset in localhost.answer for item in rrset] == ["127.0.0.1"]
            assert answer.flags & dns.flags.RA  # a resolver, not an authority


def test_a_name_it_cannot_resolve_fails_at_once_rather_than_after_timeouts():
    # On the test host every outside name fails (no internet); what matters to rspamd
    # is that the answer comes at once, whatever it is.
    started = time.monotonic()
    answer = ask("127.0.0.1", f"s{uuid.uuid4().hex[:12]}.example.", "TXT")
    assert time.monotonic() - started < 2
    assert answer.rcode() in (dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL, dns.rcode.NOERROR)


def test_unbound_listens_on_loopback_only_and_lets_only_loopback_in():
    assert all(ipaddress.ip_address(address).is_loopback for address in interfaces())
    listening = listening_on_port_53()
    assert "127.0.0.1" in listening
    assert all(ipaddress.ip_address(address).is_loopback for address in listening), listening
    # Nothing answers on the host's other addresses: the port is closed there.
    for address in host_addresses():
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as client:
            client.settimeout(3)
            with pytest.raises(ConnectionRefusedError):
                client.connect((address, 53))
    # And had an interface been opened, only loopback's clients would be let in.
    assert set(checkconf("access-control")) == {
        "0.0.0.0/0 refuse", "::/0 refuse", "127.0.0.0/8 allow", "::1/128 allow"}


def test_unbound_validates_dnssec_and_is_controlled_over_a_unix_socket_only():
    assert "validator" in checkconf("module-config")[0].split()
    anchor = checkconf("auto-trust-anchor-file")
    assert anchor and Path(anchor[0]).is_file()
    assert checkconf("control-enable") == ["yes"]
    assert all(value.startswith("/") for value in checkconf("control-interface"))
    # Nothing listens on the network control port.
    with socket.socket() as client:
        client.settimeout(3)
        with pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", 8953))
    assert queries_answered() >= 0  # unbound-control reaches it through the socket


def test_rspamd_is_configured_with_unbound_and_asks_it():
    assert f'nameserver = ["{RESOLVER}"];' in RSPAMD_OPTIONS.read_text()
    # A message from an outside host and domain: rspamd looks up its SPF record, the
    # client's name and more, all at unbound.
    domain = f"s{uuid.uuid4().hex[:12]}.example"
    raw = (f"From: someone@{domain}\r\nTo: alice@example.net\r\nSubject: lunch\r\n"
           f"Message-ID: <{uuid.uuid4().hex}@{domain}>\r\n\r\nThursday?\r\n").encode()
    before = queries_answered()
    result = RspamdClient("127.0.0.1", 11333, timeout=10.0).check(
        io.BytesIO(raw), len(raw), Envelope(sender=f"someone@{domain}",
                                            recipients=("alice@example.net",),
                                            client_address="192.0.2.1",
                                            helo=f"mail.{domain}"))
    assert result.symbols
    assert queries_answered() > before


@pytest.mark.parametrize("path", [CONFIG, DAEMONS_CONFIG], ids=lambda path: path.name)
def test_mailbasic_asks_unbound_and_scans_with_rspamd(path):
    config = tomllib.loads(path.read_text())
    assert config["dns"]["nameservers"] == [RESOLVER]
    assert config["spam"]["engine"] == "rspamd"
    assert (config["rspamd"]["host"], config["rspamd"]["port"]) == ("127.0.0.1", 11333)
    settings = load_settings(path)
    assert settings.dns_nameservers == (RESOLVER,)
    assert settings.spam_engine == "rspamd"


def test_mail_through_port_25_is_scanned_by_rspamd(customer, tls_context):
    """A plain message from outside, through the deployed Postfix and milter: its spam
    headers name rspamd's symbols (SpamAssassin has no MIME_GOOD or RCPT_COUNT_ONE), and
    the sender checks and rspamd asked unbound."""
    subject = unique("lunch on Thursday")
    message = EmailMessage()
    message["From"] = "Someone Else <someone@remote.example>"
    message["To"] = customer.alice[0]
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = f"<{uuid.uuid4().hex}@remote.example>"
    message.set_content("Hi,\n\nare we still on for lunch on Thursday?\n\nRegards\n")
    before = queries_answered()
    send_mx("someone@remote.example", [customer.alice[0]], message.as_bytes())
    arrived = fetch_imaps(customer.alice, tls_context, subject)
    # Test names hold no white space: whatever the folding left is dropped.
    status = "".join(str(arrived["X-Spam-Status"]).split())
    assert status.startswith("No,score="), status
    tests = status.rpartition("tests=")[2].split(",")
    assert tests == sorted(tests), status
    assert {"MIME_GOOD", "RCPT_COUNT_ONE"} <= set(tests), status
    assert arrived["X-Spam-Flag"] is None
    assert queries_answered() > before
