"""The webmail's way in, through the real SOGo, Dovecot and nginx of the stack: SOGo logs
in only mailboxes whose webmail may be used now, reads their mail on Dovecot's webmail
listener (where the webmail switch, not the IMAP one, decides), and each such login is
recorded as the mailbox's last webmail login. The browser's side is
tests/e2e/test_webmail_browser.py."""

from __future__ import annotations

import http.client
import imaplib
import json
import ssl
import uuid
from dataclasses import replace
from datetime import datetime
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import text

from mailbasic import db
from tests.conftest import Cli

HOST = "127.0.0.1"
PASSWORD = "a long webmail secret"


@pytest.fixture
def webmail_user(sogo, tmp_path) -> tuple[Cli, str]:
    tag = uuid.uuid4().hex[:8]
    cli = Cli(replace(sogo.settings, bcrypt_cost=4), tmp_path)
    cli.ok("domain", "add", f"webmail{tag}.example")
    cli.ok("customer", "add", f"reader{tag}", "--domain", f"webmail{tag}.example",
           "--password-stdin", input=PASSWORD + "\n")
    return cli, f"reader{tag}@webmail{tag}.example"


def sogo_request(stack, context: ssl.SSLContext, method: str, path: str,
                 body: dict[str, object] | None = None,
                 cookies: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]],
                                                                 bytes]:
    """One request to SOGo through the stack's nginx, as its web page makes them."""
    headers = {"Content-Type": "application/json"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        headers["X-XSRF-TOKEN"] = cookies.get("XSRF-TOKEN", "")
    connection = http.client.HTTPSConnection(HOST, stack.ports.https, context=context,
                                             timeout=60)
    try:
        connection.request(method, path, body=json.dumps(body).encode() if body else None,
                           headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.getheaders(), answer.read()
    finally:
        connection.close()


def sogo_log_in(stack, context: ssl.SSLContext, login: str,
                password: str = PASSWORD) -> tuple[int, dict[str, str]]:
    status, headers, _ = sogo_request(stack, context, "POST", "/SOGo/connect",
                                      {"userName": login, "password": password})
    cookies = SimpleCookie()
    for name, value in headers:
        if name.lower() == "set-cookie":
            cookies.load(value)
    return status, {name: morsel.value for name, morsel in cookies.items()}


def open_inbox(stack, context: ssl.SSLContext, login: str,
               cookies: dict[str, str]) -> tuple[int, bytes]:
    status, _, body = sogo_request(stack, context, "POST",
                                   f"/SOGo/so/{login}/Mail/0/folderINBOX/view", {},
                                   cookies)
    return status, body


def webmail_listener_login(stack, login: str) -> str:
    """An IMAP login on Dovecot's webmail listener, as SOGo makes it (STARTTLS)."""
    context = ssl.create_default_context(cafile=str(stack.certificates.ca))
    context.check_hostname = False
    with imaplib.IMAP4(stack.settings.webmail_imap_address, stack.ports.webmail_imap,
                       timeout=30) as client:
        client.starttls(context)
        try:
            client.login(login, PASSWORD)
        except imaplib.IMAP4.error as error:
            return str(error)
        return "OK"


def last_webmail_login(stack, login: str) -> datetime | None:
    engine = db.make_engine(stack.settings)
    try:
        with engine.connect() as connection:
            recorded: datetime | None = connection.scalar(text(
                "SELECT m.last_webmail_login_at FROM mailboxes m JOIN dovecot_passwords p"
                " ON p.mailbox_id = m.id WHERE p.username = :login"), {"login": login})
            return recorded
    finally:
        engine.dispose()


def test_a_webmail_login_reads_the_inbox_and_is_recorded(sogo, tls_context, webmail_user):
    _, login = webmail_user
    assert last_webmail_login(sogo, login) is None
    status, cookies = sogo_log_in(sogo, tls_context, login)
    assert status == 200
    status, body = open_inbox(sogo, tls_context, login, cookies)
    assert status == 200 and "uids" in json.loads(body)
    assert last_webmail_login(sogo, login) is not None


def test_webmail_switched_off_refuses_sogo_and_its_listener(sogo, tls_context,
                                                           webmail_user):
    cli, login = webmail_user
    cli.ok("mailbox", "access", login, "--webmail", "off")
    assert sogo_log_in(sogo, tls_context, login)[0] == 403
    assert "may not log in with webmail" in webmail_listener_login(sogo, login)
    # IMAP itself is still allowed: the switch is the webmail's alone.
    cli.ok("mailbox", "access", login, "--webmail", "on", "--imap", "off")
    assert sogo_log_in(sogo, tls_context, login)[0] == 200
    assert webmail_listener_login(sogo, login) == "OK"


def test_a_suspended_mailbox_cannot_log_in_to_the_webmail(sogo, tls_context, webmail_user):
    cli, login = webmail_user
    cli.ok("mailbox", "suspend", login, "--reason", "unpaid invoice")
    assert sogo_log_in(sogo, tls_context, login)[0] == 403
    assert "suspended" in webmail_listener_login(sogo, login)
    cli.ok("mailbox", "resume", login)
    assert sogo_log_in(sogo, tls_context, login)[0] == 200


def test_a_wrong_password_is_refused(sogo, tls_context, webmail_user):
    _, login = webmail_user
    assert sogo_log_in(sogo, tls_context, login, "not the password")[0] == 403


def test_user_searches_find_the_customers_own_mailboxes_only(sogo, tls_context,
                                                             webmail_user):
    """SOGo's sharing dialogs search its user source: a customer finds its own second
    mailbox there, never another customer's (sogo_users.c_domain, migration 0020)."""
    cli, login = webmail_user
    local, domain = login.split("@")
    own = f"second.{local}@{domain}"
    cli.ok("mailbox", "add", local, own, "--password-stdin", input=PASSWORD + "\n")
    other = f"stranger{uuid.uuid4().hex[:8]}"
    cli.ok("customer", "add", other, "--domain", domain, "--password-stdin",
           input=PASSWORD + "\n")
    status, cookies = sogo_log_in(sogo, tls_context, login)
    assert status == 200

    def found(text: str) -> set[str]:
        status, _, body = sogo_request(sogo, tls_context, "GET",
                                       f"/SOGo/so/{login}/usersSearch?search={text}",
                                       cookies=cookies)
        assert status == 200, body
        return {user["uid"] for user in json.loads(body)["users"]}

    assert found(domain) == {own}
    assert found("stranger") == set()
    assert found(other) == set()
