"""Mail client autoconfiguration: Thunderbird's config-v1.1.xml and Outlook's POX
autodiscover answer, both made from the deployment's host name and client ports.

Every document names the same servers, in the order clients should prefer them:
implicit TLS before STARTTLS, IMAP before POP3 (clients take the first of each kind).
The login name is the address the client asked for, which is a mailbox's login when it
is the mailbox's own address; for an alias the customer corrects it. Looking the alias up
would tell whoever asks which mailbox an address belongs to.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from mailbasic.accounts import split_address, validate_domain
from mailbasic.config import Settings, service_host_names
from mailbasic.errors import InvalidInput

Protocol = Literal["imap", "pop3", "smtp"]
SocketType = Literal["SSL", "STARTTLS"]

AUTODISCOVER_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_RESPONSE = ("http://schemas.microsoft.com/exchange/autodiscover/outlook/"
                    "responseschema/2006a")
# Outlook's Encryption element: "SSL" is implicit TLS, "TLS" is STARTTLS.
_OUTLOOK_ENCRYPTION = {"SSL": "SSL", "STARTTLS": "TLS"}


class InvalidRequest(ValueError):
    """What a client sent is not a request (a 400). Not a MailbasicError: its text is
    for a mail client's log, not for a customer in the portal's languages."""


@dataclass(frozen=True)
class MailServer:
    protocol: Protocol
    host: str
    port: int
    socket_type: SocketType

    @property
    def incoming(self) -> bool:
        return self.protocol != "smtp"


def mail_servers(settings: Settings) -> tuple[MailServer, ...]:
    host = service_host_names(settings)[0]
    return (MailServer("imap", host, settings.client_imaps_port, "SSL"),
            MailServer("imap", host, settings.client_imap_port, "STARTTLS"),
            MailServer("pop3", host, settings.client_pop3s_port, "SSL"),
            MailServer("pop3", host, settings.client_pop3_port, "STARTTLS"),
            MailServer("smtp", host, settings.client_submissions_port, "SSL"),
            MailServer("smtp", host, settings.client_submission_port, "STARTTLS"))


def address_domain(address: str) -> str:
    """The domain of a client's address; InvalidRequest if it is not one."""
    if any(character.isspace() or character in "<>\"" for character in address):
        raise InvalidRequest(f"{address!r} is not an e-mail address (name@domain)")
    try:
        return validate_domain(split_address(address)[1])
    except InvalidInput as error:
        raise InvalidRequest(str(error)) from None


def host_domain(host: str) -> str:
    """DOMAIN of the autoconfig.DOMAIN host a client asked (with or without a port; a
    host name, never an IPv6 literal); InvalidRequest for any other host."""
    prefix, dot, domain = host.split(":")[0].partition(".")
    if prefix.lower() != "autoconfig" or not dot:
        raise InvalidRequest("the request names no emailaddress")
    try:
        return validate_domain(domain)
    except InvalidInput as error:
        raise InvalidRequest(str(error)) from None


# --- Thunderbird ---------------------------------------------------------------------

def thunderbird_config(settings: Settings, domain: str) -> bytes:
    """clientConfig 1.1 (wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat);
    Thunderbird fills in %EMAILADDRESS% itself."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    _text(provider, "domain", domain)
    _text(provider, "displayName", domain)
    _text(provider, "displayShortName", domain)
    for server in mail_servers(settings):
        tag = "incomingServer" if server.incoming else "outgoingServer"
        _thunderbird_server(ET.SubElement(provider, tag, type=server.protocol), server)
    return _document(root)


def _thunderbird_server(element: ET.Element, server: MailServer) -> None:
    _text(element, "hostname", server.host)
    _text(element, "port", str(server.port))
    _text(element, "socketType", server.socket_type)
    _text(element, "username", "%EMAILADDRESS%")
    # The password goes to the server as it is, but only inside TLS (both socket types).
    _text(element, "authentication", "password-cleartext")


# --- Outlook -------------------------------------------------------------------------

class _NoDoctype(ET.TreeBuilder):
    """Refuses any DTD, and with it every entity declaration (entity expansion attacks,
    external entities): an autodiscover request never needs one."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise InvalidRequest("the request must not contain a DTD")


def requested_address(body: bytes) -> str:
    """The EMailAddress of an autodiscover request (MS-OXDSCLI 2.2.4.1); InvalidRequest if
    the body is not such a request, or asks for a schema other than Outlook's."""
    root = _parse(body)
    if _local_name(root.tag) != "Autodiscover":
        raise InvalidRequest("the request is not an Autodiscover request")
    schema = _child_text(root, "AcceptableResponseSchema")
    if schema is not None and schema != OUTLOOK_RESPONSE:
        raise InvalidRequest(f"only the response schema {OUTLOOK_RESPONSE} is offered")
    address = _child_text(root, "EMailAddress")
    if not address:
        raise InvalidRequest("the request names no EMailAddress")
    return address


def _parse(body: bytes) -> ET.Element:
    parser = ET.XMLParser(target=_NoDoctype())
    try:
        parser.feed(body)
        root: ET.Element = parser.close()
    except ET.ParseError as error:
        raise InvalidRequest(f"the request is not well-formed XML: {error}") from None
    return root


def outlook_response(settings: Settings, address: str) -> bytes:
    """The POX "outlook" response: one Protocol element per server."""
    root = ET.Element("Autodiscover", xmlns=AUTODISCOVER_RESPONSE)
    account = ET.SubElement(ET.SubElement(root, "Response", xmlns=OUTLOOK_RESPONSE),
                            "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")
    for server in mail_servers(settings):
        _outlook_protocol(ET.SubElement(account, "Protocol"), server, address)
    return _document(root)


def _outlook_protocol(element: ET.Element, server: MailServer, address: str) -> None:
    _text(element, "Type", server.protocol.upper())
    _text(element, "Server", server.host)
    _text(element, "Port", str(server.port))
    _text(element, "DomainRequired", "off")
    _text(element, "LoginName", address)
    _text(element, "SPA", "off")
    # SSL=on alone would mean implicit TLS; Encryption says which kind, and wins.
    _text(element, "SSL", "on")
    _text(element, "Encryption", _OUTLOOK_ENCRYPTION[server.socket_type])
    _text(element, "AuthRequired", "on")


# --- XML helpers ---------------------------------------------------------------------

def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def _document(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _local_name(tag: str) -> str:
    """The tag without its namespace: clients differ in the namespaces they send."""
    return tag.rpartition("}")[2]


def _child_text(root: ET.Element, name: str) -> str | None:
    for element in root.iter():
        if _local_name(element.tag) == name:
            return (element.text or "").strip()
    return None
