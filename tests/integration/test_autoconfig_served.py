"""Autoconfiguration as the stack serves it (nginx + portal over real HTTPS), checked
against the stack's real Dovecot and Postfix: every server a document names is reached
on its port with its socket type, greets as its protocol, does TLS with a certificate
the stack's CA vouches for under the named host name, and takes the named login."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import quote

import pytest

from mailbasic.config import service_host_names
from mailbasic.portal.autoconfig import OUTLOOK_RESPONSE
from tests.conftest import Cli

LOOPBACK = "127.0.0.1"
PASSWORD = "an autoconfig secret"
RESPONSE = f"{{{OUTLOOK_RESPONSE}}}"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"


@dataclass(frozen=True)
class Entry:
    """One server a document names, as a client reads it."""

    protocol: str     # imap, pop3, smtp
    host: str
    port: int
    socket_type: str  # SSL (implicit TLS) or STARTTLS
    username: str


@dataclass(frozen=True)
class Mailbox:
    address: str
    domain: str


@pytest.fixture(scope="module")
def mailbox(portal, dovecot, postfix, tmp_path_factory) -> Mailbox:
    """A mailbox of a hosted domain in the stack's own database, which the portal, Dovecot
    and Postfix all serve."""
    cli = Cli(replace(portal.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    tag = uuid.uuid4().hex[:8]
    name, domain = f"auto{tag}", f"auto{tag}.example"
    cli.ok("domain", "add", domain)
    cli.ok("customer", "add", name, "--domain", domain, "--password-stdin",
           input=PASSWORD + "\n")
    return Mailbox(f"{name}@{domain}", domain)


def https(stack, tls_context, method: str, path: str, body: bytes | None = None,
          host: str | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPSConnection(LOOPBACK, stack.ports.https,
                                             context=tls_context, timeout=30)
    headers = {"Content-Type": "text/xml"} if body is not None else {}
    if host:
        headers["Host"] = host   # autoconfig.DOMAIN, which DNS would point here
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def outlook_request(address: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}">'
            f"<Request><EMailAddress>{address}</EMailAddress><AcceptableResponseSchema>"
            f"{OUTLOOK_RESPONSE}</AcceptableResponseSchema></Request></Autodiscover>"
            ).encode()


# --- reading the documents as clients do ----------------------------------------------

def thunderbird_entries(document: bytes, address: str) -> list[Entry]:
    provider = ET.fromstring(document).find("emailProvider")
    assert provider is not None
    return [Entry(server.get("type", ""), server.findtext("hostname", ""),
                  int(server.findtext("port", "0")), server.findtext("socketType", ""),
                  server.findtext("username", "").replace("%EMAILADDRESS%", address))
            for server in provider if server.tag in ("incomingServer", "outgoingServer")]


def outlook_entries(document: bytes) -> list[Entry]:
    socket_types = {"SSL": "SSL", "TLS": "STARTTLS"}
    account = ET.fromstring(document).find(f"{RESPONSE}Response/{RESPONSE}Account")
    assert account is not None
    return [Entry(protocol.findtext(f"{RESPONSE}Type", "").lower(),
                  protocol.findtext(f"{RESPONSE}Server", ""),
                  int(protocol.findtext(f"{RESPONSE}Port", "0")),
                  socket_types[protocol.findtext(f"{RESPONSE}Encryption", "")],
                  protocol.findtext(f"{RESPONSE}LoginName", ""))
            for protocol in account.findall(f"{RESPONSE}Protocol")]


# --- talking to the servers a document names ------------------------------------------

class Line:
    """A line-based client connection that can be turned into TLS in the middle."""

    def __init__(self, connection: socket.socket) -> None:
        self.use(connection)

    def use(self, connection: socket.socket) -> None:
        self.connection, self.reader = connection, connection.makefile("rb")

    def send(self, line: str) -> None:
        self.connection.sendall(line.encode() + b"\r\n")

    def read(self) -> str:
        line = self.reader.readline()
        if not line:   # a closed connection must fail the test, not wait for more lines
            raise EOFError("the server closed the connection")
        return line.decode()

    def until(self, done: Callable[[str], bool]) -> list[str]:
        lines = [self.read()]
        while not done(lines[-1]):
            lines.append(self.read())
        return lines

    def command(self, line: str) -> str:
        """A POP3 command's one-line answer."""
        self.send(line)
        return self.read()

    def tagged(self, tag: str, line: str) -> str:
        """An IMAP command's tagged answer (after any untagged lines)."""
        self.send(f"{tag} {line}")
        return self.until(lambda answer: answer.startswith(f"{tag} "))[-1]

    def smtp_reply(self, command: str | None = None) -> list[str]:
        if command is not None:
            self.send(command)
        return self.until(lambda line: line[3:4] != "-")

    def close(self) -> None:
        self.reader.close()
        self.connection.close()


def start_tls(line: Line, context: ssl.SSLContext, host: str) -> None:
    tls = context.wrap_socket(line.connection, server_hostname=host)
    assert tls.version() in ("TLSv1.2", "TLSv1.3")
    line.use(tls)


def greet(entry: Entry, line: Line) -> None:
    greeting = line.read() if entry.protocol != "smtp" else line.smtp_reply()[-1]
    assert greeting.startswith({"imap": "* OK", "pop3": "+OK", "smtp": "220 "}[entry.protocol])


def ask_for_tls(entry: Entry, line: Line) -> None:
    if entry.protocol == "imap":
        assert line.tagged("s", "STARTTLS").startswith("s OK")
    elif entry.protocol == "pop3":
        assert line.command("STLS").startswith("+OK")
    else:
        extensions = [reply[4:].strip() for reply in line.smtp_reply("EHLO client.example")]
        assert "STARTTLS" in extensions, extensions
        assert line.smtp_reply("STARTTLS")[-1].startswith("220 ")


def log_in(entry: Entry, line: Line) -> None:
    if entry.protocol == "imap":
        answer = line.tagged("l", f'LOGIN "{entry.username}" "{PASSWORD}"')
        assert answer.startswith("l OK"), (entry, answer)
    elif entry.protocol == "pop3":
        assert line.command(f"USER {entry.username}").startswith("+OK")
        answer = line.command(f"PASS {PASSWORD}")
        assert answer.startswith("+OK"), (entry, answer)
    else:
        line.smtp_reply("EHLO client.example")
        plain = base64.b64encode(f"\0{entry.username}\0{PASSWORD}".encode()).decode()
        answer = line.smtp_reply(f"AUTH PLAIN {plain}")[-1]
        assert answer.startswith("235 "), (entry, answer)


def check_server(entry: Entry, context: ssl.SSLContext, addresses: dict[str, str]) -> None:
    """What a mail client does with the entry: connect, TLS as the entry says (checking
    the certificate under the entry's host name), then log in as the entry says."""
    line = Line(socket.create_connection((addresses[entry.host], entry.port), timeout=30))
    try:
        if entry.socket_type == "SSL":
            start_tls(line, context, entry.host)
            greet(entry, line)
        else:
            assert entry.socket_type == "STARTTLS", entry
            greet(entry, line)
            ask_for_tls(entry, line)
            start_tls(line, context, entry.host)
        log_in(entry, line)
    finally:
        line.close()


def the_stack_s_servers(stack) -> set[tuple[str, int, str]]:
    ports = stack.ports
    return {("imap", ports.imaps, "SSL"), ("imap", ports.imap, "STARTTLS"),
            ("pop3", ports.pop3s, "SSL"), ("pop3", ports.pop3, "STARTTLS"),
            ("smtp", ports.smtps, "SSL"), ("smtp", ports.submission, "STARTTLS")}


@pytest.fixture
def addresses(portal) -> dict[str, str]:
    """The service's host name as DNS would resolve it: the stack listens on loopback."""
    return {service_host_names(portal.settings)[0]: LOOPBACK}


def check_entries(entries: list[Entry], stack, context, addresses, address: str) -> None:
    assert {(e.protocol, e.port, e.socket_type) for e in entries} == the_stack_s_servers(stack)
    assert {(e.host, e.username) for e in entries} == {(next(iter(addresses)), address)}
    for entry in entries:
        check_server(entry, context, addresses)


# --- the tests -----------------------------------------------------------------------

@pytest.mark.parametrize("path, host", [
    ("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={address}", None),
    ("/mail/config-v1.1.xml?emailaddress={address}", "autoconfig.{domain}"),
    ("/mail/config-v1.1.xml", "autoconfig.{domain}"),
])
def test_thunderbird_config_names_servers_that_work(portal, mailbox, tls_context, addresses,
                                                    path, host):
    status, kind, document = https(
        portal, tls_context, "GET", path.format(address=quote(mailbox.address)),
        host=host and host.format(domain=mailbox.domain))
    assert (status, kind) == (200, "application/xml; charset=utf-8"), document
    entries = thunderbird_entries(document, mailbox.address)
    check_entries(entries, portal, tls_context, addresses, mailbox.address)


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml",
                                  "/Autodiscover/Autodiscover.xml"])
def test_outlook_autodiscover_names_servers_that_work(portal, mailbox, tls_context, addresses,
                                                      path):
    status, kind, document = https(portal, tls_context, "POST", path,
                                   body=outlook_request(mailbox.address))
    assert (status, kind) == (200, "application/xml; charset=utf-8"), document
    entries = outlook_entries(document)
    # Outlook takes the first entry of each type: implicit TLS.
    assert [(e.protocol, e.socket_type) for e in entries][::2] == [
        ("imap", "SSL"), ("pop3", "SSL"), ("smtp", "SSL")]
    check_entries(entries, portal, tls_context, addresses, mailbox.address)


def test_only_hosted_domains_are_answered(portal, mailbox, tls_context):
    stranger = "anna@not-hosted.example"
    thunderbird = https(portal, tls_context, "GET",
                        f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={stranger}")
    outlook = https(portal, tls_context, "POST", "/autodiscover/autodiscover.xml",
                    body=outlook_request(stranger))
    for status, kind, text in (thunderbird, outlook):
        assert (status, kind) == (404, "text/plain; charset=utf-8"), text
        assert b"not-hosted.example is not hosted here" in text


@pytest.mark.parametrize("body", [
    b"no xml at all",
    b'<!DOCTYPE a [<!ENTITY x "y">]><Autodiscover><Request><EMailAddress>&x;'
    b"</EMailAddress></Request></Autodiscover>",
    outlook_request("not an address"),
])
def test_malformed_requests_are_a_400(portal, tls_context, body):
    status, kind, text = https(portal, tls_context, "POST", "/autodiscover/autodiscover.xml",
                               body=body)
    assert (status, kind) == (400, "text/plain; charset=utf-8"), text
