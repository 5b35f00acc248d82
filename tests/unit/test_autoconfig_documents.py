"""The autoconfiguration documents (Thunderbird config-v1.1, Outlook POX) made from the
settings, the reading of Outlook's requests (hostile XML included), and the views'
answers without a database (the hosted-domain lookup is replaced)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from sqlalchemy import create_engine

from mailbasic.config import Settings, load_settings, render_settings
from mailbasic.errors import NotFound
from mailbasic.portal import autoconfig
from mailbasic.portal.app import create_app
from mailbasic.portal.views import autoconfig as views

SETTINGS = Settings(service_domain="provider.example",
                    host_names=("imap.provider.example", "mx.provider.example"),
                    client_imaps_port=10993, client_imap_port=10143,
                    client_pop3s_port=10995, client_pop3_port=10110,
                    client_submissions_port=10465, client_submission_port=10587)
SERVERS = [("imap", 10993, "SSL"), ("imap", 10143, "STARTTLS"), ("pop3", 10995, "SSL"),
           ("pop3", 10110, "STARTTLS"), ("smtp", 10465, "SSL"), ("smtp", 10587, "STARTTLS")]
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE = f"{{{autoconfig.OUTLOOK_RESPONSE}}}"


def outlook_request(address: str, schema: str = autoconfig.OUTLOOK_RESPONSE) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}">'
            f"<Request><EMailAddress>{address}</EMailAddress>"
            f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema>"
            "</Request></Autodiscover>").encode()


def test_the_defaults_are_the_standard_ports_on_the_first_host_name():
    servers = autoconfig.mail_servers(Settings(service_domain="provider.example"))
    assert [(s.protocol, s.host, s.port, s.socket_type) for s in servers] == [
        ("imap", "mail.provider.example", 993, "SSL"),
        ("imap", "mail.provider.example", 143, "STARTTLS"),
        ("pop3", "mail.provider.example", 995, "SSL"),
        ("pop3", "mail.provider.example", 110, "STARTTLS"),
        ("smtp", "mail.provider.example", 465, "SSL"),
        ("smtp", "mail.provider.example", 587, "STARTTLS")]


def test_thunderbird_config_names_every_server():
    root = ET.fromstring(autoconfig.thunderbird_config(SETTINGS, "customer.example"))
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == "customer.example"
    assert provider.findtext("domain") == "customer.example"
    servers = [(s.get("type"), int(s.findtext("port", "")), s.findtext("socketType"))
               for s in provider if s.tag in ("incomingServer", "outgoingServer")]
    assert servers == SERVERS
    for server in provider.iter("incomingServer"):
        assert server.findtext("hostname") == "imap.provider.example"
        assert server.findtext("username") == "%EMAILADDRESS%"
        assert server.findtext("authentication") == "password-cleartext"
    assert [s.get("type") for s in provider.iter("outgoingServer")] == ["smtp", "smtp"]


def test_outlook_response_is_the_pox_outlook_schema():
    root = ET.fromstring(autoconfig.outlook_response(SETTINGS, "anna@customer.example"))
    assert root.tag == f"{{{autoconfig.AUTODISCOVER_RESPONSE}}}Autodiscover"
    account = root.find(f"{RESPONSE}Response/{RESPONSE}Account")
    assert account is not None
    assert account.findtext(f"{RESPONSE}AccountType") == "email"
    assert account.findtext(f"{RESPONSE}Action") == "settings"
    protocols = account.findall(f"{RESPONSE}Protocol")
    encryption = {"SSL": "SSL", "STARTTLS": "TLS"}
    assert [(p.findtext(f"{RESPONSE}Type"), int(p.findtext(f"{RESPONSE}Port", "")),
             p.findtext(f"{RESPONSE}Encryption")) for p in protocols] == [
        (kind.upper(), port, encryption[socket]) for kind, port, socket in SERVERS]
    for protocol in protocols:
        assert protocol.findtext(f"{RESPONSE}Server") == "imap.provider.example"
        assert protocol.findtext(f"{RESPONSE}LoginName") == "anna@customer.example"
        assert protocol.findtext(f"{RESPONSE}AuthRequired") == "on"


def test_documents_escape_what_they_carry():
    document = autoconfig.outlook_response(SETTINGS, "a&b<c>@customer.example")
    assert b"a&amp;b&lt;c&gt;@customer.example" in document
    ET.fromstring(document)


@pytest.mark.parametrize("body", [
    outlook_request("anna@customer.example"),
    # Without a namespace, and without the (optional) schema element.
    b"<Autodiscover><Request><EMailAddress> anna@customer.example </EMailAddress>"
    b"</Request></Autodiscover>",
])
def test_the_requested_address_is_read(body):
    assert autoconfig.requested_address(body) == "anna@customer.example"


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                  b"<Autodiscover><Request><EMailAddress>&lol2;</EMailAddress></Request>"
                  b"</Autodiscover>")
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   b"<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request>"
                   b"</Autodiscover>")


@pytest.mark.parametrize("body, reason", [
    (BILLION_LAUGHS, "must not contain a DTD"),
    (EXTERNAL_ENTITY, "must not contain a DTD"),
    (b'<!DOCTYPE Autodiscover SYSTEM "http://attacker.example/x.dtd"><Autodiscover/>',
     "must not contain a DTD"),
    # A DTD in another encoding is found all the same (the parser reads it, not a regex).
    ("<?xml version='1.0' encoding='utf-16'?><!DOCTYPE a []><Autodiscover/>"
     .encode("utf-16"), "must not contain a DTD"),
    (b"", "not well-formed XML"),
    (b"EMailAddress=anna@customer.example", "not well-formed XML"),
    (b"<Autodiscover><Request>", "not well-formed XML"),
    (b"<Autodiscover><Request><EMailAddress>&undefined;</EMailAddress></Request>"
     b"</Autodiscover>", "not well-formed XML"),
    (b"<Other><EMailAddress>anna@customer.example</EMailAddress></Other>",
     "not an Autodiscover request"),
    (b"<Autodiscover><Request/></Autodiscover>", "names no EMailAddress"),
    (b"<Autodiscover><Request><EMailAddress/></Request></Autodiscover>",
     "names no EMailAddress"),
    (outlook_request("anna@customer.example", "http://schemas.microsoft.com/exchange/"
                     "autodiscover/mobilesync/responseschema/2006"), "only the response schema"),
])
def test_requests_that_are_refused(body, reason):
    with pytest.raises(autoconfig.InvalidRequest, match=reason):
        autoconfig.requested_address(body)


@pytest.mark.parametrize("address, domain", [
    ("anna@customer.example", "customer.example"), ("Anna@Customer.Example.", "customer.example"),
])
def test_address_domains(address, domain):
    assert autoconfig.address_domain(address) == domain


@pytest.mark.parametrize("address", ["anna", "anna@", "@customer.example", "anna@-x-.example",
                                     "an na@customer.example", "<anna@customer.example>",
                                     "anna@customer..example"])
def test_addresses_that_are_refused(address):
    with pytest.raises(autoconfig.InvalidRequest):
        autoconfig.address_domain(address)


def test_client_ports_are_settings(tmp_path):
    path = tmp_path / "mailbasic.toml"
    path.write_text("[client_ports]\nimaps = 10993\nsubmission = 2525\n")
    settings = load_settings(path, environ={})
    assert (settings.client_imaps_port, settings.client_submission_port) == (10993, 2525)
    assert settings.client_pop3_port == 110
    path.write_text(render_settings(SETTINGS))
    assert load_settings(path, environ={}) == SETTINGS


# --- the views, with the hosted domains replaced ---------------------------------------

@pytest.fixture
def client(monkeypatch):
    def hosted_domain(name: str) -> str:
        if name != "customer.example":
            raise NotFound("domain {name} is not hosted here", name=name)
        return name
    monkeypatch.setattr(views, "hosted_domain", hosted_domain)
    settings = replace(SETTINGS, portal_secret_key="k" * 32)
    # Never connected: these views read the database only through hosted_domain.
    app = create_app(settings, create_engine("postgresql+psycopg2://nobody@127.0.0.1/none"))
    return app.test_client()


@pytest.mark.parametrize("path", ["/.well-known/autoconfig/mail/config-v1.1.xml",
                                  "/mail/config-v1.1.xml"])
def test_thunderbird_by_address(client, path):
    answer = client.get(path, query_string={"emailaddress": "anna@customer.example"})
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    assert ET.fromstring(answer.data).find("emailProvider").get("id") == "customer.example"


def test_thunderbird_by_autoconfig_host(client):
    answer = client.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.customer.example"})
    assert answer.status_code == 200
    assert ET.fromstring(answer.data).find("emailProvider").get("id") == "customer.example"


@pytest.mark.parametrize("query, host, status", [
    ({"emailaddress": "anna@other.example"}, "portal.example", 404),
    ({}, "autoconfig.other.example", 404),
    ({"emailaddress": "no address"}, "portal.example", 400),
    ({}, "portal.example", 400),
])
def test_thunderbird_refusals(client, query, host, status):
    answer = client.get("/mail/config-v1.1.xml", query_string=query, headers={"Host": host})
    assert answer.status_code == status and answer.mimetype == "text/plain"


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml",
                                  "/Autodiscover/Autodiscover.xml"])
def test_outlook_without_session_or_csrf_token(client, path):
    answer = client.post(path, data=outlook_request("anna@customer.example"),
                         content_type="text/xml")
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    assert b"<LoginName>anna@customer.example</LoginName>" in answer.data


@pytest.mark.parametrize("body, status", [
    (outlook_request("anna@other.example"), 404),
    (outlook_request("anna"), 400),
    (BILLION_LAUGHS, 400),
    (b"not xml", 400),
])
def test_outlook_refusals(client, body, status):
    answer = client.post("/autodiscover/autodiscover.xml", data=body, content_type="text/xml")
    assert answer.status_code == status and answer.mimetype == "text/plain"


@pytest.mark.parametrize("host, domain", [
    ("autoconfig.customer.example", "customer.example"),
    ("AutoConfig.Customer.Example:443", "customer.example"),
])
def test_autoconfig_hosts(host, domain):
    assert autoconfig.host_domain(host) == domain


@pytest.mark.parametrize("host", ["portal.example", "autoconfig", "autoconfig.", "[::1]:443",
                                  "autoconfig.-bad-.example"])
def test_hosts_that_name_no_domain(host):
    with pytest.raises(autoconfig.InvalidRequest):
        autoconfig.host_domain(host)
