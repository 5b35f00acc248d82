"""The portal's login over a real PostgreSQL, through Flask's test client (the browser
tests drive the same pages through nginx): password, second factor, throttling,
CSRF, cookies and headers, invitations and the read-only support view."""

from __future__ import annotations

import re
from dataclasses import replace

import pyotp
import pytest

from mailbasic import db
from mailbasic.portal.app import create_app
from mailbasic.schema import AuditEvent
from tests.totp_codes import previous_step_code

PASSWORD = "a long portal secret"


@pytest.fixture
def portal(settings, cli):
    settings = replace(settings, portal_secret_key="k" * 40)
    cli.ok("domain", "add", "portal.example")
    for name in ("alice", "bobby"):
        cli.ok("customer", "add", name, "--domain", "portal.example", "--password-stdin",
               input="a mailbox secret\n")
        cli.ok("customer", "passwd", name, "--password-stdin", input=PASSWORD + "\n")
    engine = db.make_engine(settings)
    app = create_app(settings, engine)
    yield app
    engine.dispose()


def browser(app):
    """A client as behind nginx: over HTTPS (the cookie is Secure), from one address."""
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "portal.test",
                                "HTTP_X_REAL_IP": "192.0.2.10"})
    return client


def token_of(page) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def log_in(client, name="alice", password=PASSWORD):
    token = token_of(client.get("/login"))
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token})


def test_login_sets_a_secure_cookie_and_strict_headers(portal):
    client = browser(portal)
    answer = log_in(client)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("__Host-mailbasic=")
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Strict"))
    page = client.get("/")
    assert page.status_code == 200 and "alice@portal.example" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_german_by_default_english_by_the_browser(portal):
    assert "Anmelden" in browser(portal).get("/login").text
    english = browser(portal).get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Log in" in english.text and "Anmelden" not in english.text


def test_a_post_without_csrf_token_is_refused(portal):
    client = browser(portal)
    answer = client.post("/login", data={"name": "alice", "password": PASSWORD})
    assert answer.status_code == 400
    log_in(client)
    assert client.post("/logout").status_code == 400


def test_wrong_passwords_grow_a_delay_never_a_lock(portal, settings):
    client = browser(portal)
    for _ in range(4):
        assert log_in(client, password="wrong").status_code == 401
    assert log_in(client).status_code == 429          # even the right one waits now
    engine = db.make_engine(settings)
    with engine.begin() as connection:            # ... a second later, as if waited
        connection.exec_driver_sql(
            "UPDATE login_failures SET last_failure = last_failure - interval '2 seconds'")
    engine.dispose()
    assert log_in(client).status_code == 302


def test_second_factor_by_app_or_recovery_code(portal, settings):
    from mailbasic import audit
    from mailbasic.portal import credentials
    engine = db.make_engine(settings)
    secret = pyotp.random_base32()
    with db.transaction(engine) as session:
        from mailbasic.accounts import get_customer
        alice = get_customer(session, "alice")
        # The previous step's code (still accepted) confirms; the current one logs in.
        codes = credentials.enable_totp(session, audit.ADMIN, alice, secret,
                                        previous_step_code(pyotp.TOTP(secret)))
    engine.dispose()
    client = browser(portal)
    answer = log_in(client)
    assert answer.headers["Location"] == "/login/code"
    assert client.get("/").status_code == 302     # not logged in before the code
    token = token_of(client.get("/login/code"))
    assert client.post("/login/code", data={"code": "000000",
                                            "csrf_token": token}).status_code == 401
    code = pyotp.TOTP(secret).now()
    answer = client.post("/login/code", data={"code": code, "csrf_token": token})
    assert answer.status_code == 302 and client.get("/").status_code == 200
    # A code works once: whoever saw it over the shoulder is too late.
    replay = browser(portal)
    log_in(replay)
    assert replay.post("/login/code", data={"code": code, "csrf_token": token_of(
        replay.get("/login/code"))}).status_code == 401
    # A recovery code works once.
    for expected in (302, 401):
        other = browser(portal)
        log_in(other)
        token = token_of(other.get("/login/code"))
        assert other.post("/login/code", data={"code": codes[0],
                                               "csrf_token": token}).status_code == expected


def test_an_invitation_sets_the_password_once(portal, cli):
    url = cli.ok("customer", "invite", "bobby").stdout.split()[0]
    path = "/" + url.split("/", 3)[3]
    client = browser(portal)
    token = token_of(client.get(path))
    answer = client.post(path, data={"password": "bob's new portal secret",
                                     "repeat": "bob's new portal secret",
                                     "csrf_token": token})
    assert answer.status_code == 302
    assert browser(portal).get(path).status_code == 404        # used up
    assert log_in(browser(portal), "bobby", "bob's new portal secret").status_code == 302


def test_a_support_link_is_read_only_and_audited(portal, cli, settings):
    url = cli.ok("customer", "support-link", "alice", "--staff", "sam").stdout.split()[0]
    client = browser(portal)
    client.get("/" + url.split("/", 3)[3])
    page = client.get("/")
    assert page.status_code == 200 and "sam" in page.text
    token = token_of(page)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    audit_log = cli.ok("audit", "search", "--customer", "alice").stdout
    assert "support sam" in audit_log and "support view opened" in audit_log
    engine = db.make_engine(settings)
    with db.transaction(engine) as session:
        assert session.query(AuditEvent).count() >= 4
    engine.dispose()


def test_a_password_longer_than_bcrypt_reads_is_wrong_not_an_error(portal):
    assert log_in(browser(portal), password="x" * 100).status_code == 401


def test_every_change_by_the_cli_is_in_the_audit_log(cli):
    import json
    cli.ok("domain", "add", "audited.example")
    cli.ok("domain", "list")                      # reads nothing into the log
    events = json.loads(cli.ok("audit", "search", "--json").stdout)
    assert [(event["action"], event["detail"]) for event in events] == [
        ("domain add", {"parameters": {"name": "audited.example"}})]
    assert events[0]["actor"].startswith("admin (CLI, ")


def test_the_language_chosen_before_logging_in_stays(portal):
    client = browser(portal)
    token = token_of(client.get("/login"))
    client.post("/language", data={"language": "en", "next": "/login",
                                   "csrf_token": token})
    log_in(client)
    assert "Your mailboxes" in client.get("/").text


def from_address(app, address: str):
    client = browser(app)
    client.environ_base["HTTP_X_REAL_IP"] = address
    return client


def test_an_address_blocked_for_imap_guesses_is_refused_here_too(portal, settings):
    """One defence: the portal reads the counters and blocks Dovecot's logins write."""
    from mailbasic.auth_policy.decide import Limits
    from mailbasic.auth_policy.guard import Attempt, LoginGuard

    engine = db.make_engine(settings)
    guard = LoginGuard(Limits.of(settings))
    for number in range(settings.auth_client_block_failures):
        with db.transaction(engine) as session:
            guard.failed(session, Attempt(f"user{number}@portal.example", "192.0.2.10",
                                          "imap"))
    engine.dispose()
    answer = log_in(browser(portal))                  # the right password, refused
    assert answer.status_code == 429 and "Bitte versuchen Sie es nach" in answer.text


def test_the_customer_s_usual_address_gets_in_while_the_name_is_attacked(portal, settings):
    assert log_in(browser(portal)).status_code == 302         # alice's usual address
    answers = [log_in(from_address(portal, f"198.51.100.{number + 1}"),  # a botnet
                      password=f"guess {number}").status_code for number in range(4)]
    assert answers == [401] * 4
    engine = db.make_engine(settings)
    with engine.begin() as connection:          # ... and on: the name now waits 4 s ...
        connection.exec_driver_sql("UPDATE login_failures SET failures = 9"
                                   " WHERE scope = 'account' AND key = 'alice'")
    engine.dispose()
    assert log_in(from_address(portal, "198.51.100.5"), password="guess").status_code == 429
    assert log_in(browser(portal)).status_code == 302     # ... but not from alice's place
    stranger = log_in(from_address(portal, "203.0.113.9"))
    assert stranger.status_code == 429 and "Bitte warten Sie" in stranger.text
