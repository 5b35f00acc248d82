"""Suspension and login protocols from the admin API (real HTTP, like test_api.py) and as
the customer's portal sees them: a suspended customer's portal login stops, support
links still open the read-only view, and each change is audited. Dovecot's side is
tests/e2e/test_login_access.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mailbasic import db
from mailbasic.portal.app import create_app
from mailbasic.portal.server import wsgi_app
from tests.integration.test_api import DOMAIN, PASSWORD, Server, new_token, refusal
from tests.integration.test_portal_auth import browser, log_in

ALICE = f"alice@{DOMAIN}"
PORTAL_PASSWORD = "a long portal secret"


@pytest.fixture
def accounts(settings, cli):
    settings = replace(settings, portal_secret_key="k" * 40)
    cli.ok("domain", "add", DOMAIN)
    cli.ok("customer", "add", "alice", "--domain", DOMAIN, "--password-stdin",
           input=PASSWORD + "\n")
    cli.ok("customer", "passwd", "alice", "--password-stdin", input=PORTAL_PASSWORD + "\n")
    engine = db.make_engine(settings)
    yield settings, engine
    engine.dispose()


@pytest.fixture
def server(accounts):
    served = Server(wsgi_app(*accounts))
    yield served
    served.stop()


def test_suspend_resume_and_protocols_over_the_api(server, cli):
    token = new_token(cli, "billing")
    answer = server.api("POST", f"/mailboxes/{ALICE}/suspend", {"reason": "unpaid"},
                        token=token)
    assert answer.status == 200, answer.body
    assert answer.body["suspended_reason"] == "unpaid" and answer.body["suspended_at"]
    error = refusal(server.api("POST", f"/mailboxes/{ALICE}/suspend", token=token),
                    403, "not_allowed")
    assert error["message"] == f"mailbox {ALICE} is suspended already"
    answer = server.api("POST", f"/mailboxes/{ALICE}/resume", token=token)
    assert answer.status == 200 and answer.body["suspended_at"] is None
    answer = server.api("PATCH", f"/mailboxes/{ALICE}/access",
                        {"pop3": False, "webmail": False}, token=token)
    assert answer.body["access"] == {"imap": True, "pop3": False, "smtp": True,
                                     "webmail": False}
    refusal(server.api("PATCH", f"/mailboxes/{ALICE}/access", {"ftp": True}, token=token),
            422, "invalid_input")
    refusal(server.api("PATCH", f"/mailboxes/{ALICE}/access", {"imap": "yes please"},
                       token=token), 422, "invalid_input")
    actions = [event["action"] for event in json.loads(
        cli.ok("audit", "search", "--customer", "alice", "--json").stdout)]
    assert {"mailbox suspended", "mailbox resumed", "login protocols set"} <= set(actions)


def test_a_suspended_customer_cannot_use_the_portal(accounts, cli):
    app = create_app(*accounts)
    logged_in = browser(app)
    assert log_in(logged_in, password=PORTAL_PASSWORD).status_code == 302
    assert logged_in.get("/").status_code == 200
    cli.ok("mailbox", "suspend", ALICE, "--reason", "unpaid")
    # The open session ends at its next page, and a new login gets no further.
    answer = logged_in.get("/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    page = logged_in.get(answer.headers["Location"])
    assert "Ihr Zugang ist gesperrt" in page.get_data(as_text=True)
    fresh = browser(app)
    log_in(fresh, password=PORTAL_PASSWORD)
    assert fresh.get("/").status_code == 302
    # Support staff still see the customer's view, read-only.
    link = cli.ok("customer", "support-link", "alice", "--staff", "eva").stdout.strip()
    support = browser(app)
    path = link.split()[0][link.index("/support/"):]
    assert support.get(path).status_code == 302
    assert support.get("/").status_code == 200
    cli.ok("mailbox", "resume", ALICE)
    assert fresh.get("/").status_code == 302        # logged out; logging in works again
    assert log_in(fresh, password=PORTAL_PASSWORD).status_code == 302
    assert fresh.get("/").status_code == 200
