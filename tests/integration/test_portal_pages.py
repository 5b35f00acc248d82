"""The portal's mailbox, security and mail log pages over a real PostgreSQL, through
Flask's test client: both languages, the CLI's refusals translated, passwords only with
the current one, TOTP set up, the log showing only the customer's own mail, and every URL
with another customer's ids a 404."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select, update

from mailbasic import db, smtplog
from mailbasic.passwords import verify_password
from mailbasic.portal import credentials
from mailbasic.portal.app import create_app
from mailbasic.schema import (
    Address,
    Customer,
    DeliveryAttempt,
    Mailbox,
    QuotaUsage,
    SmtpSession,
    SmtpTransaction,
)
from mailbasic.smtplog import TransactionRecord

PASSWORD = "a long portal secret"
MAILBOX_PASSWORD = "a mailbox secret"
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def portal(settings, cli):
    settings = replace(settings, portal_secret_key="k" * 40)
    cli.ok("domain", "add", "portal.example")
    for name in ("alice", "bobby"):
        cli.ok("customer", "add", name, "--domain", "portal.example", "--password-stdin",
               input=MAILBOX_PASSWORD + "\n")
        cli.ok("customer", "passwd", name, "--password-stdin", input=PASSWORD + "\n")
    cli.ok("mailbox", "add", "alice", "alicia@portal.example", "--password-stdin",
           input=MAILBOX_PASSWORD + "\n")
    cli.ok("address", "add", "bobby.alias@portal.example", "--mailbox", "bobby@portal.example")
    engine = db.make_engine(settings)
    app = create_app(settings, engine)
    yield app
    engine.dispose()


def browser(app, language="de"):
    """A client as behind nginx: over HTTPS (the cookie is Secure), from one address."""
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "portal.test",
                                "HTTP_X_REAL_IP": "192.0.2.10",
                                "HTTP_ACCEPT_LANGUAGE": language})
    return client


def token_of(page) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def logged_in(app, name="alice", language="de"):
    client = browser(app, language)
    token = token_of(client.get("/login"))
    answer = client.post("/login", data={"name": name, "password": PASSWORD,
                                         "csrf_token": token})
    assert answer.status_code == 302
    return client


def post(client, path, **data):
    """A form sent as the browser does: with the CSRF token of the page."""
    return client.post(path, data={"csrf_token": token_of(client.get("/security")), **data})


def text_of(page) -> str:
    return html.unescape(page.text)


def ids(engine, name):
    """The customer's mailbox ids (by name) and address ids (by address)."""
    with db.transaction(engine) as session:
        customer = session.scalar(select(Customer).where(Customer.name == name))
        mailboxes = {mailbox.name: mailbox.id for mailbox in customer.mailboxes}
        addresses = {address.email: address.id for mailbox in customer.mailboxes
                     for address in mailbox.addresses}
    return mailboxes, addresses


def logged(engine, queue_id, sender, recipients, *, days_ago=0, auth_user=None,
           verdicts=None, reply="250 accepted"):
    """A transaction as the milter records it; its id."""
    with engine.begin() as connection:
        smtplog.record(connection, TransactionRecord(
            queue_id=queue_id, client_address="192.0.2.7", client_name="mx.remote.example",
            helo="mx.remote.example", tls=None, auth_user=auth_user, sender=sender,
            size=2048, reply=reply, recipients=recipients,
            verdicts=verdicts or {"spam": {"verdict": "ham", "reason": "score 0.1/5.0"}}))
        connection.execute(update(SmtpTransaction).where(SmtpTransaction.queue_id == queue_id)
                           .values(logged_at=datetime.now(UTC) - timedelta(days=days_ago)))
    with db.transaction(engine) as session:
        return session.scalar(select(SmtpTransaction.id)
                              .where(SmtpTransaction.queue_id == queue_id))


def test_each_page_in_german_and_english(portal, engine):
    mailboxes, _ = ids(engine, "alice")
    mailbox = mailboxes["alice@portal.example"]
    message = logged(engine, "AAA111", "someone@remote.example",
                     [("alice@portal.example", "accepted: into INBOX")])
    pages = {"/mailboxes": ("Ihre Postfächer", "Your mailboxes"),
             f"/mailboxes/{mailbox}": ("Adresse hinzufügen", "Add an address"),
             "/security": ("Passwörter und Sicherheit", "Passwords and security"),
             "/security/totp": ("Geben Sie den Code ein", "Enter the code"),
             "/mail-log": ("Wo ist meine Post geblieben?", "Where did my mail go?"),
             f"/mail-log/{message}": ("In den Posteingang.", "Into the inbox.")}
    for language, index in (("de", 0), ("en", 1)):
        client = logged_in(portal, language=language)
        for path, texts in pages.items():
            page = client.get(path)
            assert page.status_code == 200, path
            assert texts[index] in text_of(page), (language, path)
            assert texts[1 - index] not in text_of(page), (language, path)


def test_quota_usage_and_last_logins_are_shown(portal, engine):
    with db.transaction(engine) as session:
        session.add(QuotaUsage(username="alice@portal.example", bytes=5 * 1048576,
                               messages=42))
        session.execute(update(Mailbox).where(Mailbox.id.in_(
            select(Address.mailbox_id).where(Address.local_part == "alice")))
            .values(last_imap_login_at=datetime(2026, 3, 4, 12, 0, tzinfo=UTC)))
    page = text_of(logged_in(portal, language="en").get("/mailboxes"))
    assert "5.0 of" in page and "2026" in page and "never" in page
    assert "42 messages" in text_of(logged_in(portal, language="en").get(
        f"/mailboxes/{ids(engine, 'alice')[0]['alice@portal.example']}"))


def test_the_address_limit_and_syntax_refusals_are_the_clis_translated(portal, engine, cli):
    mailboxes, _ = ids(engine, "alice")
    path = f"/mailboxes/{mailboxes['alice@portal.example']}/addresses"
    german, english = logged_in(portal), logged_in(portal, language="en")
    for number in range(1, 6):
        answer = post(german, path, address=f"alice.extra{number}@portal.example")
        assert answer.status_code == 302, text_of(answer)
    answer = post(german, path, address="alice.extra6@portal.example")
    assert answer.status_code == 400
    assert "Das Postfach alice@portal.example hat schon 6 Adressen (1 Hauptadresse + 5)" \
        in text_of(answer)
    answer = post(english, path, address="alice.extra6@portal.example")
    assert answer.status_code == 400
    refusal = cli.refused(6, "address", "add", "alice.extra6@portal.example",
                          "--mailbox", "alice@portal.example")
    assert refusal.removeprefix("mailbasic: error: ") in text_of(answer)
    answer = post(german, f"/mailboxes/{mailboxes['alicia@portal.example']}/addresses",
                  address="ab@portal.example")
    assert "'ab': Der Name vor @ muss 5 bis 30 Zeichen haben" in text_of(answer)
    answer = post(german, f"/mailboxes/{mailboxes['alicia@portal.example']}/addresses",
                  address="bobby.alias@portal.example")
    assert "Die Adresse bobby.alias@portal.example ist schon vergeben" in text_of(answer)
    assert "address added" in text_of(german.get("/audit"))


def test_moving_and_removing_an_address(portal, engine):
    mailboxes, _ = ids(engine, "alice")
    first, second = mailboxes["alice@portal.example"], mailboxes["alicia@portal.example"]
    client = logged_in(portal, language="en")
    post(client, f"/mailboxes/{first}/addresses", address="alice.moving@portal.example")
    address = ids(engine, "alice")[1]["alice.moving@portal.example"]
    answer = post(client, f"/mailboxes/{first}/addresses/{address}/move", target=second)
    assert answer.status_code == 302 and answer.headers["Location"] == f"/mailboxes/{second}"
    assert "alice.moving@portal.example now reaches alicia@portal.example" in \
        text_of(client.get(answer.headers["Location"]))
    with db.transaction(engine) as session:
        assert session.get(Address, address).mailbox_id == second
    # The primary address stays: the CLI's refusal.
    primary = ids(engine, "alice")[1]["alicia@portal.example"]
    answer = post(client, f"/mailboxes/{second}/addresses/{primary}/move", target=first)
    assert answer.status_code == 400
    assert "alicia@portal.example is the primary address of its mailbox and cannot move" \
        in text_of(answer)
    assert post(client, f"/mailboxes/{second}/addresses/{address}/remove").status_code == 302
    with db.transaction(engine) as session:
        assert session.get(Address, address) is None
    audit = text_of(client.get("/audit"))
    assert "address moved" in audit and "address removed" in audit


def test_a_mailbox_switched_off_for_inactivity_is_reactivated(portal, engine, cli):
    mailboxes, _ = ids(engine, "alice")
    cli.ok("mailbox", "deactivate", "alice@portal.example", "--reason",
           "no download for 180 days")
    cli.ok("mailbox", "deactivate", "alicia@portal.example", "--reason", "unpaid bills")
    client = logged_in(portal, language="en")
    page = text_of(client.get(f"/mailboxes/{mailboxes['alice@portal.example']}"))
    assert "for 180 days" in page and "Receive mail again" in page
    assert post(client, f"/mailboxes/{mailboxes['alicia@portal.example']}/reactivate"
                ).status_code == 403     # customer service's switch-off stays theirs
    answer = post(client, f"/mailboxes/{mailboxes['alice@portal.example']}/reactivate")
    assert answer.status_code == 302
    assert '"receiving": "active"' in cli.ok("mailbox", "show", "alice@portal.example",
                                            "--json").stdout
    assert "mailbox reactivated" in text_of(client.get("/audit"))


def test_password_changes_need_the_current_password(portal, engine, settings):
    client = logged_in(portal, language="en")
    new = "a brand new portal secret"
    answer = post(client, "/security/password", **{
        "portal-current": "wrong", "portal-password": new, "portal-repeat": new})
    assert answer.status_code == 400 and "the current password is not right" in text_of(answer)
    answer = post(client, "/security/password", **{
        "portal-current": PASSWORD, "portal-password": new, "portal-repeat": new})
    assert answer.status_code == 302
    assert client.get("/security").status_code == 200      # this session goes on
    with db.transaction(engine) as session:
        alice = session.scalar(select(Customer).where(Customer.name == "alice"))
        assert credentials.check_password(session, settings, alice, new)
    mailbox = ids(engine, "alice")[0]["alicia@portal.example"]
    path = f"/security/mailboxes/{mailbox}/password"
    fields = {"current": "wrong", "password": "new mailbox pass", "repeat": "new mailbox pass"}
    answer = post(client, path, **{f"mailbox{mailbox}-{key}": value
                                   for key, value in fields.items()})
    assert answer.status_code == 400
    assert "The current password of alicia@portal.example is not right" in text_of(answer)
    fields["current"] = "x" * 100       # longer than any stored: no bcrypt error
    assert post(client, path, **{f"mailbox{mailbox}-{key}": value
                                 for key, value in fields.items()}).status_code == 400
    fields["current"] = MAILBOX_PASSWORD
    answer = post(client, path, **{f"mailbox{mailbox}-{key}": value
                                   for key, value in fields.items()})
    assert answer.status_code == 302
    with db.transaction(engine) as session:
        assert verify_password("new mailbox pass", session.get(Mailbox, mailbox).password_hash)
    fields.update(current="new mailbox pass", password="short", repeat="short")
    answer = post(client, path, **{f"mailbox{mailbox}-{key}": value
                                   for key, value in fields.items()})
    assert "password too short: at least 8 characters" in text_of(answer)
    assert "mailbox password changed" in text_of(client.get("/audit"))


def test_totp_set_up_with_recovery_codes_and_turned_off(portal, engine):
    client = logged_in(portal, language="en")
    page = text_of(client.get("/security/totp"))
    secret = re.search(r"<code>([A-Z2-7 ]{16,})</code>", page).group(1).replace(" ", "")
    assert f"otpauth://totp/mailbasic:alice?secret={secret}" in page
    path = "/security/totp"
    answer = client.post(path, data={"code": "000000", "csrf_token": token_of(
        client.get(path))})
    assert answer.status_code == 400 and "the code does not match" in text_of(answer)
    answer = client.post(path, data={"code": pyotp.TOTP(secret).now(),
                                     "csrf_token": token_of(client.get(path))})
    codes = re.findall(r"<code>([0-9a-f]{16})</code>", answer.text)
    assert answer.status_code == 200 and len(codes) == 10
    with db.transaction(engine) as session:
        alice = session.scalar(select(Customer).where(Customer.name == "alice"))
        assert credentials.has_second_factor(session, alice)
    assert client.get(path).headers["Location"] == "/security"     # on already
    assert post(client, "/security/totp/off", **{"off-current": "wrong"}).status_code == 400
    assert post(client, "/security/totp/off", **{"off-current": PASSWORD}).status_code == 302
    with db.transaction(engine) as session:
        alice = session.scalar(select(Customer).where(Customer.name == "alice"))
        assert not credentials.has_second_factor(session, alice)
    audit = text_of(client.get("/audit"))
    assert "second factor enabled" in audit and "second factor disabled" in audit


def test_the_log_shows_only_the_customers_own_mail(portal, engine):
    own_in = logged(engine, "IN1", "friend@remote.example",
                    [("alice@portal.example", "accepted: into INBOX")], days_ago=3)
    logged(engine, "BOB1", "friend@remote.example",
           [("bobby@portal.example", "accepted: into INBOX")])
    own_out = logged(engine, "OUT1", "alice@portal.example",
                     [("pen.pal@remote.example", "accepted")],
                     auth_user="alice@portal.example")
    shared = logged(engine, "BOTH1", "news@remote.example",
                    [("alicia@portal.example", "accepted: into Newsletters"),
                     ("bobby@portal.example", "accepted: redirect to bob@secret.example")])
    client = logged_in(portal, language="en")
    found = text_of(client.get("/mail-log"))
    for transaction in (own_in, own_out, shared):
        assert f"/mail-log/{transaction}" in found
    assert "BOB1" not in found and "bobby@portal.example" not in found
    assert "secret.example" not in found
    by_sender = text_of(client.get("/mail-log", query_string={"sender": "FRIEND@"}))
    assert f"/mail-log/{own_in}\"" in by_sender and f"/mail-log/{shared}\"" not in by_sender
    by_recipient = text_of(client.get("/mail-log", query_string={"recipient": "pen.pal"}))
    assert f"/mail-log/{own_out}\"" in by_recipient and f"/mail-log/{own_in}\"" not in \
        by_recipient
    today = datetime.now(UTC).astimezone().date()
    recent = text_of(client.get("/mail-log", query_string={
        "since": (today - timedelta(days=1)).isoformat(), "until": today.isoformat()}))
    assert f"/mail-log/{own_out}\"" in recent and f"/mail-log/{own_in}\"" not in recent
    story = text_of(client.get(f"/mail-log/{shared}"))
    assert "Into the folder “Newsletters”, by your filter rules." in story
    assert "bobby" not in story and "secret.example" not in story


def test_a_messages_story_in_plain_words(portal, engine):
    now = datetime.now(UTC)
    spam = logged(engine, "SPAM1", "offers@remote.example",
                  [("alice@portal.example", "accepted: into Spam")],
                  verdicts={"spam": {"verdict": "spam", "reason": "score 9.1/5.0"}})
    refused = logged(engine, "NOQUEUE", "friend@remote.example",
                     [("alicia@portal.example", "refused by Postfix")],
                     reply="no message: transaction aborted")
    forwarded = logged(engine, "FWD1", "friend@remote.example",
                       [("alice@portal.example", "accepted: redirect to alice@home.example")])
    with db.transaction(engine) as session:
        session.add(SmtpSession(
            service="postfix/smtpd", pid=1, connected_at=now - timedelta(seconds=5),
            client_name="mx.remote.example", client_address="192.0.2.7",
            refusals=[{"to": "Alicia@portal.example", "stage": "RCPT",
                       "reply": "552 5.2.2 <alicia@portal.example>: Mailbox full"}]))
        session.add(DeliveryAttempt(
            queue_id="FWD1", recipient="alice@home.example", attempted_at=now,
            service="postfix/smtp", relay="mx.home.example[198.51.100.1]:25", delay=0.4,
            dsn="5.1.1", status="bounced", reply="550 5.1.1 user unknown (in reply to RCPT)"))
    english, german = logged_in(portal, language="en"), logged_in(portal)
    assert "Into the spam folder." in text_of(english.get(f"/mail-log/{spam}"))
    assert "In den Spam-Ordner." in text_of(german.get(f"/mail-log/{spam}"))
    assert "Refused: the mailbox is full." in text_of(english.get(f"/mail-log/{refused}"))
    assert "Abgelehnt: das Postfach ist voll." in text_of(german.get(f"/mail-log/{refused}"))
    page = text_of(english.get(f"/mail-log/{forwarded}"))
    assert "Forwarded to alice@home.example." in page
    assert "not deliverable: returned to the sender: the address does not exist" in page
    assert "550 5.1.1 user unknown" in page


def test_another_customers_ids_give_404(portal, engine):
    bob_mailboxes, bob_addresses = ids(engine, "bobby")
    bob_mailbox = bob_mailboxes["bobby@portal.example"]
    bob_alias = bob_addresses["bobby.alias@portal.example"]
    alice_mailboxes, alice_addresses = ids(engine, "alice")
    alice_mailbox = alice_mailboxes["alice@portal.example"]
    bob_message = logged(engine, "BOB2", "friend@remote.example",
                         [("bobby@portal.example", "accepted: into INBOX")])
    huge = 2 ** 70
    client = logged_in(portal)
    for path in (f"/mailboxes/{bob_mailbox}", f"/mail-log/{bob_message}",
                 f"/mailboxes/{huge}", f"/mail-log/{huge}"):
        assert client.get(path).status_code == 404, path
    for path, data in (
            (f"/mailboxes/{bob_mailbox}/addresses", {"address": "alice.sneaky@portal.example"}),
            (f"/mailboxes/{bob_mailbox}/addresses/{bob_alias}/remove", {}),
            (f"/mailboxes/{bob_mailbox}/addresses/{bob_alias}/move", {"target": alice_mailbox}),
            (f"/mailboxes/{alice_mailbox}/addresses/{bob_alias}/remove", {}),
            (f"/mailboxes/{alice_mailbox}/addresses/{bob_alias}/move",
             {"target": alice_mailboxes["alicia@portal.example"]}),
            (f"/mailboxes/{bob_mailbox}/reactivate", {}),
            (f"/security/mailboxes/{bob_mailbox}/password",
             {f"mailbox{bob_mailbox}-current": MAILBOX_PASSWORD,
              f"mailbox{bob_mailbox}-password": "taken over!",
              f"mailbox{bob_mailbox}-repeat": "taken over!"})):
        assert post(client, path, **data).status_code == 404, path
    # Alice's own address, moved into Bob's mailbox.
    extra = f"/mailboxes/{alice_mailbox}/addresses"
    post(client, extra, address="alice.extra@portal.example")
    own = ids(engine, "alice")[1]["alice.extra@portal.example"]
    assert post(client, f"/mailboxes/{alice_mailbox}/addresses/{own}/move",
                target=bob_mailbox).status_code == 404
    assert post(client, f"/mailboxes/{alice_mailbox}/addresses/{own}/move",
                target=huge).status_code == 404
    assert ids(engine, "bobby")[1] == bob_addresses
    assert alice_addresses.keys() <= ids(engine, "alice")[1].keys()


def test_a_support_session_sees_but_never_changes(portal, engine, cli):
    mailbox = ids(engine, "alice")[0]["alice@portal.example"]
    url = cli.ok("customer", "support-link", "alice", "--staff", "sam").stdout.split()[0]
    client = browser(portal)
    client.get("/" + url.split("/", 3)[3])
    assert client.get(f"/mailboxes/{mailbox}").status_code == 200
    assert client.get("/security").status_code == 200
    assert client.get("/mail-log").status_code == 200
    assert client.get("/security/totp").status_code == 403
    for path, data in ((f"/mailboxes/{mailbox}/addresses",
                        {"address": "alice.support@portal.example"}),
                       ("/security/password", {}), ("/security/totp/off", {})):
        assert post(client, path, **data).status_code == 403, path


def test_mail_refused_before_it_was_sent_is_shown_from_the_delivery_record(portal, engine):
    """Postfix refused it at RCPT (the policy daemon: mailbox full); the milter may never
    have seen it, Postfix's own log line (smtp_sessions.refusals) has it."""
    now = datetime.now(UTC)
    refusal = {"at": now.isoformat(), "stage": "RCPT", "from": "friend@remote.example",
               "helo": "mx.remote.example"}
    with db.transaction(engine) as session:
        session.add(SmtpSession(
            service="postfix/smtpd", pid=4242, connected_at=now, ended_at=now,
            client_name="mx.remote.example", client_address="192.0.2.7", client_port=40000,
            end="disconnect", refusals=[
                {**refusal, "to": "alice@portal.example",
                 "reply": "552 5.2.2 <alice@portal.example>: Mailbox full"},
                {**refusal, "to": "bobby@portal.example",
                 "reply": "550 5.1.1 <bobby@portal.example>: unknown"}]))
    page = text_of(logged_in(portal, language="en").get("/mail-log"))
    assert "Refused before it was sent" in page and "the mailbox is full" in page
    assert "alice@portal.example" in page and "bobby@portal.example" not in page
