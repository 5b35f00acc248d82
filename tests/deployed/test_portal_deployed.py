"""The customer portal as Ansible deployed it: nginx on 443 with the deployed certificate
in front of `mailbasic portal` (supervised like the other daemons, its own database
role), a customer made with the deployed CLI logging in with a real HTTP client."""

from __future__ import annotations

import grp
import http.client
import http.cookiejar
import json
import os
import pwd
import re
import signal
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from mailbasic.config import load_settings
from tests.deployed.conftest import mailbasic
from tests.deployed.test_supervision import daemon_pids, wait_for

HOST = "127.0.0.1"
URL = f"https://{HOST}"
PORTAL_CONFIG = Path("/etc/mailbasic/portal.toml")
SOCKET = Path("/run/mailbasic-portal/portal.sock")
PASSWORD = "alice's deployed portal secret"


class Browser:
    """urllib with a cookie jar, trusting the deployed certificate: redirects followed,
    the session cookie kept, as a browser would."""

    def __init__(self, tls_context) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=tls_context),
            urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, path: str, form: dict[str, str] | None = None):
        data = urlencode(form).encode() if form is not None else None
        try:
            response = self.opener.open(f"{URL}{path}", data=data, timeout=30)
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()
        with response:
            return response.status, response.headers, response.read().decode()

    def log_in(self, name: str, password: str = PASSWORD):
        status, _, page = self.open("/login")
        assert status == 200
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token, page
        return self.open("/login", {"name": name, "password": password,
                                    "csrf_token": token.group(1)})


@pytest.fixture(scope="module")
def portal_customer(customer):
    """The deployed session's customer, with portal credentials set by the admin."""
    name = customer.alice[0].split("@")[0]
    mailbasic("customer", "passwd", name, "--password-stdin", input=PASSWORD + "\n")
    return name


def test_the_portal_answers_on_443_with_the_deployed_certificate(tls_context):
    status, headers, page = Browser(tls_context).open("/login")
    assert status == 200 and 'name="csrf_token"' in page
    assert headers["Strict-Transport-Security"] == "max-age=63072000"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "nginx"


def test_plain_http_sends_browsers_to_https():
    connection = http.client.HTTPConnection(HOST, 80, timeout=30)
    try:
        connection.request("GET", "/login?x=1")
        answer = connection.getresponse()
        assert answer.status == 301
        assert answer.headers["Location"] == f"{URL}/login?x=1"
    finally:
        connection.close()


def test_a_customer_logs_in_and_sees_the_mailboxes(customer, portal_customer, tls_context):
    browser = Browser(tls_context)
    status, _, overview = browser.log_in(portal_customer)
    assert status == 200, overview                 # the overview, after the redirect
    assert customer.alice[0] in overview and customer.bobby[0] in overview
    cookie = next(cookie for cookie in browser.jar if cookie.name == "__Host-mailbasic")
    assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    events = json.loads(mailbasic("audit", "search", "--customer", portal_customer,
                                  "--json"))
    login = next(event for event in events if event["action"] == "login")
    assert login["client_address"] == HOST      # X-Real-IP from nginx
    assert Browser(tls_context).log_in(portal_customer, "not the password")[0] == 401


def test_static_files_and_the_yardstick_come_from_nginx(tls_context):
    browser = Browser(tls_context)
    status, headers, css = browser.open("/static/portal.css")
    assert status == 200 and headers["Content-Type"] == "text/css" and css
    assert headers["Cache-Control"] == "max-age=86400"
    assert "Content-Security-Policy" not in headers      # not the portal's answer
    status, headers, page = browser.open("/yardstick.html")
    assert status == 200 and "Yardstick" in page
    assert os.path.realpath("/opt/mailbasic/portal-static").startswith(
        "/opt/mailbasic/venv/lib/")


def test_the_portal_holds_only_its_own_credentials():
    config = os.stat(PORTAL_CONFIG)
    assert pwd.getpwuid(config.st_uid).pw_name == "mailbasic"
    assert stat.S_IMODE(config.st_mode) == 0o400
    settings = load_settings(PORTAL_CONFIG)
    assert make_url(settings.database_url).username == "mailbasic_portal"
    assert settings.portal_secret_key and len(settings.portal_secret_key) >= 32
    assert settings.collect_key       # collection accounts are set up in the portal
    for other in ("mailbasic", "daemons", "lookups", "srs"):
        assert "secret_key" not in Path(f"/etc/mailbasic/{other}.toml").read_text()
    url = make_url(settings.database_url)
    connection = psycopg2.connect(host=url.host, port=url.port, dbname=url.database,
                                  user=url.username, password=url.password)
    try:
        with connection.cursor() as cursor:
            for statement in ("DELETE FROM audit_events", "SELECT * FROM log_positions",
                              "UPDATE mailboxes SET customer_id = customer_id"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cursor.execute(statement)
                connection.rollback()
    finally:
        connection.close()


def test_only_nginx_reaches_the_portal_s_socket():
    directory = os.stat(SOCKET.parent)
    assert grp.getgrgid(directory.st_gid).gr_name == "www-data"
    assert stat.S_IMODE(directory.st_mode) == 0o2750
    assert stat.S_IMODE(os.stat(SOCKET).st_mode) == 0o660
    assert os.stat(SOCKET).st_gid == directory.st_gid


def test_a_killed_portal_is_started_again(tls_context):
    victims = daemon_pids("portal", "portal")
    assert len(victims) == 1
    os.kill(min(victims), signal.SIGKILL)
    wait_for(lambda: daemon_pids("portal", "portal") - victims, "portal did not come back")

    def answers() -> bool:
        return Browser(tls_context).open("/login")[0] == 200
    wait_for(answers, "the portal does not answer through nginx")


def test_the_dry_run_lists_a_stored_message_through_doveadm_s_api(customer, portal_customer,
                                                                  tls_context):
    """The portal (not root) reads the mailbox through Dovecot's doveadm HTTP API, with
    the key the deployment gave both."""
    subject = f"stored {os.urandom(4).hex()}"
    message = f"From: bob@remote.example\nTo: {customer.alice[0]}\nSubject: {subject}\n\nHi\n"
    subprocess.run(["doveadm", "save", "-u", customer.alice[0], "-m", "INBOX"],
                   input=message, text=True, check=True, timeout=30)
    browser = Browser(tls_context)
    _, _, overview = browser.log_in(portal_customer)
    mailbox = re.search(rf'href="/mailboxes/(\d+)">{re.escape(customer.alice[0])}<', overview)
    assert mailbox, overview
    status, _, page = browser.open(f"/mailboxes/{mailbox.group(1)}/filters/test")
    assert status == 200 and subject in page, page
