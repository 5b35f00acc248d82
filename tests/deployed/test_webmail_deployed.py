"""The webmail (SOGo) as Ansible deployed it: behind nginx on 443 at /SOGo, logging in
with a mailbox made by the deployed CLI, reading its mail through Dovecot's webmail
listener (recorded as a webmail login), its calendar over CalDAV."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from http.cookies import SimpleCookie

import psycopg2
from sqlalchemy.engine import make_url

from mailbasic.config import load_settings
from tests.deployed.conftest import CONFIG, mailbasic

HOST = "127.0.0.1"


def _request(tls_context: ssl.SSLContext, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]],
                                                             bytes]:
    connection = http.client.HTTPSConnection(HOST, 443, context=tls_context, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.getheaders(), answer.read()
    finally:
        connection.close()


def _log_in(tls_context: ssl.SSLContext, login: str, password: str) -> tuple[int, dict[str, str]]:
    """SOGo's login form posts this JSON; the session is in its cookies."""
    status, headers, _ = _request(
        tls_context, "POST", "/SOGo/connect",
        json.dumps({"userName": login, "password": password}).encode(),
        {"Content-Type": "application/json"})
    cookies = SimpleCookie()
    for name, value in headers:
        if name.lower() == "set-cookie":
            cookies.load(value)
    return status, {name: morsel.value for name, morsel in cookies.items()}


def test_the_webmail_login_page_is_served_over_https(tls_context):
    status, headers, page = _request(tls_context, "GET", "/SOGo/")
    assert status == 200 and b"SOGo" in page
    assert dict(headers)["Strict-Transport-Security"] == "max-age=63072000"
    # Its scripts are nginx's own static files.
    status, _, script = _request(tls_context, "GET",
                                 "/SOGo.woa/WebServerResources/js/Common.js")
    assert status == 200 and script


def test_a_mailbox_logs_in_reads_its_inbox_and_the_login_is_recorded(tls_context,
                                                                     customer):
    login, password = customer.alice
    status, cookies = _log_in(tls_context, login, password)
    assert status == 200, cookies
    cookie_header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    status, _, body = _request(
        tls_context, "POST", f"/SOGo/so/{login}/Mail/0/folderINBOX/view", b"{}",
        {"Content-Type": "application/json", "Cookie": cookie_header,
         "X-XSRF-TOKEN": cookies["XSRF-TOKEN"]})
    assert status == 200, body
    assert "uids" in json.loads(body)
    database = make_url(load_settings(CONFIG).database_url)
    with psycopg2.connect(host=database.host, port=database.port, user=database.username,
                          password=database.password, dbname=database.database) as db:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT m.last_webmail_login_at FROM mailboxes m"
                " JOIN dovecot_passwords p ON p.mailbox_id = m.id WHERE p.username = %s",
                (login,))
            (recorded,) = cursor.fetchone()
    assert recorded is not None


def test_a_wrong_password_is_refused(tls_context, customer):
    status, _ = _log_in(tls_context, customer.alice[0], "not the password")
    assert status == 403


def test_calendar_over_caldav_with_the_mailbox_password(tls_context, customer):
    login, password = customer.bobby
    status, headers, _ = _request(tls_context, "GET", "/.well-known/caldav")
    assert status == 301 and dict(headers)["Location"].endswith("/SOGo/dav/")
    credentials = base64.b64encode(f"{login}:{password}".encode()).decode()
    status, _, body = _request(tls_context, "PROPFIND", f"/SOGo/dav/{login}/Calendar/",
                               headers={"Authorization": f"Basic {credentials}",
                                        "Depth": "1"})
    assert status == 207, body
    assert b"personal" in body


def test_a_suspension_ends_caldav_access_at_once(tls_context, customer):
    """SOGo would keep an accepted login in its cache for minutes: the suspension drops
    it there (`[groupware] cache_socket`), so the next request is refused."""
    login, password = customer.bobby
    credentials = base64.b64encode(f"{login}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "Depth": "0"}
    path = f"/SOGo/dav/{login}/Calendar/"
    assert _request(tls_context, "PROPFIND", path, headers=headers)[0] == 207
    mailbasic("mailbox", "suspend", login, "--reason", "deployed test")
    try:
        assert _request(tls_context, "PROPFIND", path, headers=headers)[0] == 401
    finally:
        mailbasic("mailbox", "resume", login)
    assert _request(tls_context, "PROPFIND", path, headers=headers)[0] == 207
