"""The portal's app passwords over a real PostgreSQL, through Flask's test client, with
the stack's Dovecot told of revocations: a new one is shown on its answer page only (not
in a URL, not in the session, only its SHA-256 stored), refusals in German, revocation,
another customer's ids a 404, CSRF, support sessions read-only, and the security page's
switch that requires app passwords, offered only with a second factor."""

from __future__ import annotations

import re
from dataclasses import replace

import pyotp
import pytest
from sqlalchemy import select

from mailbasic import audit, db
from mailbasic.accounts import get_customer, get_mailbox
from mailbasic.app_passwords import app_passwords_only
from mailbasic.portal import credentials
from mailbasic.portal.app import create_app
from mailbasic.schema import AppPassword
from tests.integration.test_portal_auth import PASSWORD, browser
from tests.integration.test_portal_rules import ALICE, BOBBY, customer, post, text

# As handed out: lower-case base32 of 128 bits in groups of four.
SHOWN = re.compile(r"<code class=\"secret\">([a-z2-7]{4}(?:-[a-z2-7]{1,4}){6})</code>")


def make_portal(settings, cli):
    cli.ok("domain", "add", "portal.example")
    for name in ("alice", "bobby"):
        cli.ok("customer", "add", name, "--domain", "portal.example", "--password-stdin",
               input="a mailbox secret\n")
        cli.ok("customer", "passwd", name, "--password-stdin", input=PASSWORD + "\n")
    engine = db.make_engine(settings)
    return create_app(replace(settings, portal_secret_key="k" * 40), engine), engine


@pytest.fixture
def portal(settings, cli, dovecot):
    """The portal on the test's own database; revocations are told to the stack's
    Dovecot (which knows none of these logins: a flush of nothing, but a real one)."""
    app, engine = make_portal(settings, cli)
    yield app
    engine.dispose()


@pytest.fixture
def mailbox_ids(portal, engine):
    with db.transaction(engine) as session:
        return {"alice": get_mailbox(session, ALICE).id, "bobby": get_mailbox(session, BOBBY).id}


def create(client, mailbox_id: int, name: str, *protocols: str):
    return post(client, f"/mailboxes/{mailbox_id}/app-passwords", name=name,
                protocols=list(protocols))


def stored(engine, name: str) -> AppPassword | None:
    with db.transaction(engine) as session:
        return session.scalar(select(AppPassword).where(AppPassword.name == name))


def test_a_new_app_password_is_shown_once(portal, mailbox_ids, engine, cli):
    client, base = customer(portal), f"/mailboxes/{mailbox_ids['alice']}/app-passwords"
    empty = client.get(base)
    assert empty.status_code == 200 and "Keine App-Passwörter." in text(empty)
    answer = create(client, mailbox_ids["alice"], "Telefon", "imap", "smtp")
    assert answer.status_code == 200                   # the answer itself, no redirect
    assert answer.headers["Cache-Control"] == "no-store"
    [password] = SHOWN.findall(answer.get_data(as_text=True))
    assert "Das App-Passwort Telefon ist angelegt." in text(answer)
    row = stored(engine, "Telefon")
    assert row is not None and row.protocols == ["imap", "smtp"]
    assert row.secret_sha256 == credentials.digest(password)   # only its SHA-256
    with client.session_transaction() as session:
        assert password not in repr(dict(session))
    again = text(client.get(base))
    assert password not in again and "Telefon" in again and "IMAP, SMTP" in again
    assert "nie" in again                               # last used: never
    shown = cli.ok("app-password", "list", ALICE).stdout
    assert shown.startswith("Telefon  imap smtp  created ") and "last used never" in shown
    audit_log = cli.ok("audit", "search", "--customer", "alice", "--json").stdout
    assert '"app password created"' in audit_log and password not in audit_log


def test_refusals_are_shown_in_german_and_write_nothing(portal, mailbox_ids, engine):
    client, alice = customer(portal), mailbox_ids["alice"]
    refused = create(client, alice, "Laptop")
    assert refused.status_code == 400
    assert ("wählen Sie mindestens ein Protokoll für das App-Passwort: imap, pop3, smtp"
            in text(refused))
    assert stored(engine, "Laptop") is None and not SHOWN.search(refused.text)
    assert create(client, alice, "Laptop", "pop3").status_code == 200
    taken = create(client, alice, "Laptop", "imap")
    assert taken.status_code == 400
    assert "alice@portal.example hat schon ein App-Passwort namens 'Laptop'" in text(taken)
    unknown = create(client, alice, "Drucker", "ftp")
    assert "unbekanntes Protokoll ftp: wählen Sie aus imap, pop3, smtp" in text(unknown)
    assert stored(engine, "Drucker") is None


def test_revoking_deletes_it_and_tells_dovecot(portal, mailbox_ids, engine, cli):
    client, alice = customer(portal), mailbox_ids["alice"]
    create(client, alice, "Tablet", "imap")
    row = stored(engine, "Tablet")
    assert row is not None
    answer = post(client, f"/mailboxes/{alice}/app-passwords/{row.id}/revoke")
    assert answer.status_code == 302
    page = text(client.get(f"/mailboxes/{alice}/app-passwords"))
    assert "Das App-Passwort Tablet ist widerrufen" in page
    assert "konnte nicht sofort benachrichtigt werden" not in page     # Dovecot was told
    assert stored(engine, "Tablet") is None
    assert "app password revoked" in cli.ok("audit", "search", "--customer", "alice").stdout


def test_a_dovecot_not_told_is_a_warning_and_the_revocation_stands(settings, cli,
                                                                   mailbox_ids_free):
    app, engine = make_portal(replace(settings, doveadm_api_url="http://127.0.0.1:9/x"),
                              cli)
    try:
        client = customer(app)
        alice = mailbox_ids_free(engine)
        create(client, alice, "Uhr", "pop3")
        row = stored(engine, "Uhr")
        assert row is not None
        post(client, f"/mailboxes/{alice}/app-passwords/{row.id}/revoke")
        page = text(client.get(f"/mailboxes/{alice}/app-passwords"))
        assert "konnte nicht sofort benachrichtigt werden" in page
        assert stored(engine, "Uhr") is None
    finally:
        engine.dispose()


@pytest.fixture
def mailbox_ids_free():
    def alice(engine) -> int:
        with db.transaction(engine) as session:
            return get_mailbox(session, ALICE).id
    return alice


def test_another_customers_ids_are_a_404(portal, mailbox_ids, engine):
    alice, bobby = customer(portal), customer(portal, "bobby")
    create(alice, mailbox_ids["alice"], "Telefon", "imap")
    row = stored(engine, "Telefon")
    assert row is not None
    assert bobby.get(f"/mailboxes/{mailbox_ids['alice']}/app-passwords").status_code == 404
    assert create(bobby, mailbox_ids["alice"], "Fremd", "imap").status_code == 404
    for mailbox in ("alice", "bobby"):     # Alice's app password, under either mailbox
        url = f"/mailboxes/{mailbox_ids[mailbox]}/app-passwords/{row.id}/revoke"
        assert post(bobby, url).status_code == 404, url
    assert stored(engine, "Telefon") is not None and stored(engine, "Fremd") is None


def test_changes_need_the_csrf_token(portal, mailbox_ids, engine):
    client, alice = customer(portal), mailbox_ids["alice"]
    create(client, alice, "Telefon", "imap")
    row = stored(engine, "Telefon")
    assert row is not None
    base = f"/mailboxes/{alice}/app-passwords"
    assert client.post(base, data={"name": "Ohne", "protocols": "imap"}).status_code == 400
    assert client.post(f"{base}/{row.id}/revoke").status_code == 400
    assert stored(engine, "Ohne") is None and stored(engine, "Telefon") is not None


def test_a_support_session_sees_but_cannot_change(portal, mailbox_ids, engine, cli):
    create(customer(portal), mailbox_ids["alice"], "Telefon", "imap")
    row = stored(engine, "Telefon")
    assert row is not None
    url = cli.ok("customer", "support-link", "alice", "--staff", "sam").stdout.split()[0]
    support = browser(portal)
    support.get("/" + url.split("/", 3)[3])
    base = f"/mailboxes/{mailbox_ids['alice']}/app-passwords"
    assert "Telefon" in text(support.get(base))
    assert create(support, mailbox_ids["alice"], "Support", "imap").status_code == 403
    assert post(support, f"{base}/{row.id}/revoke").status_code == 403
    assert stored(engine, "Telefon") is not None and stored(engine, "Support") is None


def test_the_page_in_english(portal, mailbox_ids):
    page = text(customer(portal, language="en").get(
        f"/mailboxes/{mailbox_ids['alice']}/app-passwords"))
    assert "Make an app password" in page and "SMTP (sending mail)" in page
    assert "App-Passwort" not in page


def test_app_passwords_can_be_required_only_with_a_second_factor(portal, engine, cli):
    client = customer(portal)
    assert "App-Passwörter für IMAP, POP3 und SMTP verlangen" not in text(
        client.get("/security"))
    refused = post(client, "/security/app-passwords-only", **{"apponly-required": "y"})
    assert refused.status_code == 400
    assert "nur mit einem zweiten Faktor (TOTP)" in text(refused)
    turn_on_totp(engine, "alice")
    assert "App-Passwörter für IMAP, POP3 und SMTP verlangen" in text(client.get("/security"))
    assert post(client, "/security/app-passwords-only",
                **{"apponly-required": "y"}).status_code == 302
    page = text(client.get("/security"))
    assert "nur noch mit App-Passwörtern an" in page
    assert "konnte nicht sofort benachrichtigt werden" not in page
    assert required(engine, "alice") and not required(engine, "bobby")
    assert post(client, "/security/app-passwords-only").status_code == 302   # unticked
    assert not required(engine, "alice")
    audit_log = cli.ok("audit", "search", "--customer", "alice").stdout
    assert "app passwords required" in audit_log
    assert "app passwords no longer required" in audit_log


def turn_on_totp(engine, name: str) -> None:
    secret = pyotp.random_base32()
    with db.transaction(engine) as session:
        credentials.enable_totp(session, audit.ADMIN, get_customer(session, name), secret,
                                pyotp.TOTP(secret).now())


def required(engine, name: str) -> bool:
    with db.transaction(engine) as session:
        return app_passwords_only(session, get_customer(session, name))
