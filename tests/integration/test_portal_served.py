"""The customer portal as the stack serves it: nginx (the Ansible role's configuration)
with TLS in front of `mailbasic portal` (waitress) on its unix socket, the portal logged
in to the database as its own role. Over real HTTPS with the stack's test CA."""

from __future__ import annotations

import grp
import http.client
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import uuid
from dataclasses import dataclass, replace
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from mailbasic.devstack.templating import ROLES
from mailbasic.portal.app import CONTENT_SECURITY_POLICY
from mailbasic.schema.privileges import ComponentRole
from tests.conftest import Cli

HOST = "127.0.0.1"
PASSWORD = "a long portal secret"
TWO_YEARS = "max-age=63072000"
STATIC = Path(__file__).resolve().parents[2] / "mailbasic" / "portal" / "static"


@dataclass
class Answer:
    status: int
    headers: Message
    text: str


class Browser:
    """One kept-alive HTTPS connection to the stack's nginx and the cookies it was given
    (by hand: a cookie jar would hide what the Set-Cookie headers say)."""

    def __init__(self, stack, context: ssl.SSLContext) -> None:
        self.connection = http.client.HTTPSConnection(HOST, stack.ports.https,
                                                      context=context, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, body: bytes | None = None) -> Answer:
        headers = dict(headers or {})
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}"
                                          for name, value in self.cookies.items())
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode(errors="replace")
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return Answer(response.status, response.headers, text)

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def log_in(self, name: str, password: str = PASSWORD,
               headers: dict[str, str] | None = None) -> Answer:
        page = self.get("/login")
        return self.request("POST", "/login", {"name": name, "password": password,
                                               "csrf_token": csrf_token(page)}, headers)

    def close(self) -> None:
        self.connection.close()


def csrf_token(page: Answer) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.fixture
def browser(portal, tls_context):
    client = Browser(portal, tls_context)
    yield client
    client.close()


@dataclass(frozen=True)
class Customer:
    name: str
    mailbox: str
    cli: Cli


@pytest.fixture(scope="module")
def customer(portal, tmp_path_factory) -> Customer:
    """A customer in the stack's own database (the one the portal serves), with portal
    credentials set as an admin sets them."""
    cli = Cli(replace(portal.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    tag = uuid.uuid4().hex[:8]
    name, domain = f"served{tag}", f"served{tag}.example"
    cli.ok("domain", "add", domain)
    cli.ok("customer", "add", name, "--domain", domain, "--password-stdin",
           input="a mailbox secret\n")
    cli.ok("customer", "passwd", name, "--password-stdin", input=PASSWORD + "\n")
    return Customer(name, f"{name}@{domain}", cli)


def test_the_login_page_comes_over_https_with_the_portal_s_headers(browser):
    page = browser.get("/login")
    assert page.status == 200 and 'name="csrf_token"' in page.text
    headers = page.headers
    assert headers["Strict-Transport-Security"] == TWO_YEARS        # nginx's
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY   # the portal's
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Server"] == "nginx"          # no version, and not waitress's
    assert headers.get_all("Strict-Transport-Security") == [TWO_YEARS]
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("__Host-mailbasic=")
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"))


def test_a_customer_logs_in_through_nginx_and_the_portal_sees_the_real_address(
        browser, customer):
    # A client cannot claim another address: nginx sets X-Real-IP itself.
    answer = browser.log_in(customer.name, headers={"X-Real-IP": "203.0.113.7",
                                                    "X-Forwarded-For": "203.0.113.7"})
    assert answer.status == 302 and answer.headers["Location"] == "/", answer.text
    cookie = answer.headers["Set-Cookie"]
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Strict"))
    overview = browser.get("/")
    assert overview.status == 200 and customer.mailbox in overview.text
    assert overview.headers["Cache-Control"] == "no-store"
    events = json.loads(customer.cli.ok("audit", "search", "--customer", customer.name,
                                        "--json").stdout)
    logins = [event for event in events if event["action"] == "login"]
    assert logins and logins[0]["client_address"] == HOST


def test_a_wrong_password_is_refused_through_nginx(browser, customer):
    answer = browser.log_in(customer.name, "not the password at all")
    assert answer.status == 401
    assert browser.get("/").status == 302                # to the login page
    assert browser.log_in(customer.name).status == 302   # and the count starts afresh


def test_a_post_without_csrf_token_is_refused(browser):
    browser.get("/login")
    answer = browser.request("POST", "/login", {"name": "nobody", "password": "x" * 20})
    assert answer.status == 400


def test_static_files_come_from_nginx_with_caching_headers(browser):
    answer = browser.get("/static/portal.css")
    assert answer.status == 200
    assert answer.text == (STATIC / "portal.css").read_text()
    assert answer.headers["Content-Type"] == "text/css"
    assert answer.headers["Cache-Control"] == "max-age=86400"
    assert answer.headers["ETag"] and answer.headers["Last-Modified"]
    assert answer.headers["Strict-Transport-Security"] == TWO_YEARS
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # The portal puts its CSP on every answer it gives: this one is nginx's alone.
    assert "Content-Security-Policy" not in answer.headers
    again = browser.get("/static/portal.css", **{"If-None-Match": answer.headers["ETag"]})
    assert again.status == 304
    assert browser.get("/static/no-such-file.css").status == 404


def test_the_benchmark_s_yardstick_is_a_static_page(browser):
    answer = browser.get("/yardstick.html")
    assert answer.status == 200 and answer.headers["Content-Type"] == "text/html"
    assert answer.text == (ROLES / "nginx" / "files" / "yardstick.html").read_text()
    assert "Content-Security-Policy" not in answer.headers
    assert 1000 < len(answer.text) < 4000   # about a portal page's size


def test_bodies_over_the_portal_s_limit_stop_at_nginx(browser):
    connection = browser.connection
    connection.putrequest("POST", "/login")
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(3 * 1024 * 1024))
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 413 and "Content-Security-Policy" not in answer.headers
    answer.read()
    connection.close()
    # Below the limit, the body reaches the portal (which then wants its CSRF token).
    browser.get("/login")
    answer = browser.request("POST", "/login", body=b"x" * (3 * 1024 * 1024 // 2),
                             headers={"Content-Type": "application/octet-stream"})
    assert answer.status == 400
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_connections_are_kept_alive_and_http2_is_offered(portal, browser):
    assert browser.get("/login").status == 200
    first = browser.connection.sock
    assert browser.get("/static/portal.css").status == 200
    assert browser.get("/login").status == 200
    assert browser.connection.sock is first     # http.client reconnects after a close
    context = ssl.create_default_context(cafile=str(portal.certificates.ca))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((HOST, portal.ports.https), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=HOST) as connection:
        assert connection.selected_alpn_protocol() == "h2"


def handshake(port: int, *options: str) -> bool:
    done = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{port}", "-brief",
                           *options], input="", capture_output=True, text=True, timeout=30)
    return done.returncode == 0 and "Protocol version" in done.stderr


def test_tls_is_mozilla_s_intermediate_profile(portal):
    port = portal.ports.https
    assert handshake(port, "-tls1_3")
    assert handshake(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    # SECLEVEL=0: the client would refuse these itself; the server must be the one.
    assert not handshake(port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert not handshake(port, "-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0")


def test_only_nginx_s_workers_reach_the_portal_s_socket(portal):
    socket_path = portal.portal.socket
    directory = os.stat(socket_path.parent)
    assert stat.S_IMODE(directory.st_mode) == 0o2750
    assert directory.st_gid == os.stat(socket_path).st_gid
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o660
    assert grp.getgrgid(directory.st_gid).gr_name == "www-data"


DENIED = "InsufficientPrivilege"


def run_as_portal(stack, statement: str):
    """The rows, or the error PostgreSQL gave; always rolled back."""
    url = make_url(stack.settings.database_url)
    role = ComponentRole.PORTAL.value
    connection = psycopg2.connect(host=url.host, port=url.port, dbname=url.database,
                                  user=role, password=stack.component_passwords[role])
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    except psycopg2.Error as error:
        return type(error).__name__
    finally:
        connection.rollback()
        connection.close()


def test_the_portal_s_role_does_what_the_pages_need_and_no_more(portal, customer):
    allowed = [
        # verifying a mailbox's current password, then setting a new one
        "SELECT password_hash FROM mailboxes",
        "UPDATE mailboxes SET password_hash = password_hash, quota_bytes = quota_bytes"
        " WHERE false",
        "SELECT * FROM mailboxes WHERE false FOR UPDATE",
        "SELECT * FROM customers WHERE false FOR UPDATE",
        "INSERT INTO audit_events (actor, action) VALUES ('test', 'test') RETURNING id",
        "INSERT INTO login_failures (scope, key, failures, last_failure)"
        " VALUES ('client', '192.0.2.1', 1, now())",
        "DELETE FROM addresses WHERE false",
        "UPDATE api_tokens SET last_used_at = now() WHERE false",
        "SELECT * FROM delivery_attempts, smtp_recipients LIMIT 1",
    ]
    for statement in allowed:
        assert run_as_portal(portal, statement) != DENIED, statement
    denied = [
        "DELETE FROM audit_events", "UPDATE audit_events SET action = 'x'",
        "UPDATE mailboxes SET customer_id = customer_id WHERE false",
        "UPDATE mailboxes SET slot = 2 WHERE false",
        "UPDATE mailboxes SET last_imap_login_at = now() WHERE false",
        "INSERT INTO api_tokens (name, token_hash, scopes) VALUES ('x', 'x', '{}')",
        "UPDATE api_tokens SET scopes = '{}'",
        "SELECT * FROM log_positions", "SELECT * FROM rate_counters",
        "SELECT * FROM vacation_replies",
        "DELETE FROM smtp_transactions", "UPDATE delivery_attempts SET status = 'x'",
        "UPDATE domains SET name = 'x.example'", "CREATE TABLE evil (id int)",
    ]
    for statement in denied:
        assert run_as_portal(portal, statement) == DENIED, statement
