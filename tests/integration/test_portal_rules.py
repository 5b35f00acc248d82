"""The portal's rule and service pages over a real PostgreSQL, through Flask's test
client: spam, sender lists, filters (form editor, Sieve import and export, the dry run),
forwarding, vacation, SMS, POP3 collection and fax; each page in German and English, the
refusals translated, another customer's ids a 404, support sessions read-only."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from html import unescape

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from mailbasic import db
from mailbasic.accounts import get_mailbox
from mailbasic.portal.app import create_app
from mailbasic.schema import CollectAccount, FaxNumber, SmsRule
from tests.integration.test_portal_auth import PASSWORD, browser, log_in, token_of

ALICE, BOBBY = "alice@portal.example", "bobby@portal.example"
INVOICES = ('require ["fileinto"];\n'
            'if header :contains "subject" "invoice" {\n    fileinto "Invoices";\n}\n')
MESSAGE = ("From: Bob <bob@example.com>\r\nTo: alice@portal.example\r\n"
           "Subject: Your invoice\r\n\r\nHello\r\n")


@pytest.fixture
def portal(settings, cli):
    # Collection may reach the documentation network 192.0.2.0/24 (an operator's choice).
    settings = replace(settings, portal_secret_key="k" * 40,
                       collect_key=Fernet.generate_key().decode(),
                       collect_allowed_networks=("192.0.2.0/24",))
    cli.ok("domain", "add", "portal.example")
    for name in ("alice", "bobby"):
        cli.ok("customer", "add", name, "--domain", "portal.example", "--password-stdin",
               input="a mailbox secret\n")
        cli.ok("customer", "passwd", name, "--password-stdin", input=PASSWORD + "\n")
    engine = db.make_engine(settings)
    yield create_app(settings, engine)
    engine.dispose()


@pytest.fixture
def ids(portal, engine):
    """The mailboxes' and their primary addresses' ids."""
    with db.transaction(engine) as session:
        alice, bobby = get_mailbox(session, ALICE), get_mailbox(session, BOBBY)
        return {"alice": alice.id, "bobby": bobby.id,
                "alice_address": alice.primary_address.id}


def customer(app, name="alice", language="de"):
    client = browser(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    assert log_in(client, name).status_code == 302
    return client


def post(client, url, **data):
    """A form sent as a browser sends it: with the session's CSRF token."""
    token = token_of(client.get("/rules"))
    return client.post(url, data={"csrf_token": token, **data})


def text(answer) -> str:
    return unescape(answer.get_data(as_text=True))


PAGES = {  # under /mailboxes/ID/: a text of the German page, and of the English one
    "spam": ("Was mit Spam geschieht", "What happens to spam"),
    "senders": ("Einen Absender auf eine Liste setzen", "Put a sender on a list"),
    "filters": ("Skript herunterladen", "Download the script"),
    "filters/new": ("Filter hinzufügen", "Add the filter"),
    "filters/test": ("Zuletzt eingegangene Nachrichten", "Messages that arrived lately"),
    "forwarding": ("Eine Adresse weiterleiten", "Forward an address"),
    "vacation": ("Keine Abwesenheitsnotiz eingerichtet.", "No vacation reply is set."),
    "sms": ("Welche Mail eine SMS wert ist", "Which mail is worth an SMS"),
    "collect": ("Ein Konto hinzufügen", "Add an account"),
    "fax": ("Keine Faxnummern.", "No fax numbers."),
}


def test_every_page_in_german_and_english(portal, ids):
    german, english = customer(portal), customer(portal, language="en")
    pages = {f"/mailboxes/{ids['alice']}/{path}": texts for path, texts in PAGES.items()}
    pages |= {"/rules": ("Mail-Regeln", "Mail rules"),
              "/services": ("SMS, Abholen, Fax", "SMS, collection, fax")}
    for url, (in_german, in_english) in pages.items():
        page_de, page_en = german.get(url), english.get(url)
        assert page_de.status_code == page_en.status_code == 200, url
        assert in_german in text(page_de) and in_english not in text(page_de), url
        assert in_english in text(page_en) and in_german not in text(page_en), url


def test_spam_settings_and_sender_lists(portal, ids, cli):
    client, base = customer(portal), f"/mailboxes/{ids['alice']}"
    answer = post(client, f"{base}/spam", threshold="6.5", action="folder")  # box unticked
    assert answer.status_code == 302
    assert "spam: off, threshold 6.5, action folder" in cli.ok("rules", "show", ALICE).stdout
    refused = post(client, f"{base}/spam", enabled="y", threshold="200", action="tag")
    assert refused.status_code == 400
    assert "die Spam-Grenze 200.0 muss zwischen -100 und 100 liegen" in text(refused)
    assert post(client, f"{base}/senders", sender="@Spam.example",
                which="blacklist").status_code == 302
    assert post(client, f"{base}/senders", sender="friend@example.com",
                which="whitelist").status_code == 302
    assert "'nobody' ist weder eine Adresse" in text(
        post(client, f"{base}/senders", sender="nobody", which="whitelist"))
    shown = cli.ok("rules", "show", ALICE).stdout
    assert "whitelist: friend@example.com" in shown and "blacklist: @spam.example" in shown
    assert post(client, f"{base}/senders/remove",
                sender="friend@example.com").status_code == 302
    assert "whitelist: -" in cli.ok("rules", "show", ALICE).stdout
    audit_log = cli.ok("audit", "search", "--customer", "alice").stdout
    for action in ("spam settings changed", "sender listed", "sender unlisted"):
        assert action in audit_log


def test_a_filter_from_the_form_editor_is_the_clis_sieve(portal, ids, cli):
    client, base = customer(portal), f"/mailboxes/{ids['alice']}"
    answer = post(client, f"{base}/filters/new", condition="subject", match="contains",
                  value="Rechnung", action="fileinto", folder="Rechnungen")
    assert answer.status_code == 302
    exported = cli.ok("rules", "filter", "export", ALICE).stdout
    assert exported == ('require ["fileinto"];\nif header :contains "subject" "Rechnung" {\n'
                        '    fileinto "Rechnungen";\n}\n')
    assert post(client, f"{base}/filters/new", condition="size", size_kb="2048",
                action="redirect", address="big@example.org", copy="y",
                match="contains").status_code == 302
    assert post(client, f"{base}/filters/new", condition="header", header="X-Mailer",
                match="matches", value="Bulk*", action="discard").status_code == 302
    exported = cli.ok("rules", "filter", "export", ALICE).stdout
    assert 'if size :over 2097152 {\n    redirect :copy "big@example.org";' in exported
    assert 'if header :matches "X-Mailer" "Bulk*" {\n    discard;' in exported
    page = text(client.get(f"{base}/filters"))
    assert exported in page                             # the whole script, as exported
    assert "falls gilt: der Header Subject enthält „Rechnung“" in page    # as a sentence
    assert "dann: in den Ordner „Rechnungen“ ablegen" in page
    download = client.get(f"{base}/filters/export")
    assert download.mimetype == "text/plain" and download.get_data(as_text=True) == exported
    assert "attachment" in download.headers["Content-Disposition"]
    incomplete = post(client, f"{base}/filters/new", condition="subject", match="is",
                      value="x", action="fileinto", folder="")
    assert incomplete.status_code == 400 and "Für Ihre Auswahl nötig." in text(incomplete)
    assert "filter added" in cli.ok("audit", "search", "--customer", "alice").stdout


def test_sieve_import_refused_with_its_line_number(portal, ids, cli):
    base = f"/mailboxes/{ids['alice']}"
    broken = ('require ["fileinto"];\n\nif header :contains "subject" "x" {\n'
              '    frobnicate;\n}\n')
    for language, expected in (("de", "Zeile 4: Nicht unterstützter Befehl 'frobnicate'"),
                               ("en", "line 4: unsupported command 'frobnicate'")):
        answer = post(customer(portal, language=language), f"{base}/filters/import",
                      script=broken)
        assert answer.status_code == 400 and expected in text(answer)
        assert "frobnicate;" in text(answer)             # the text is kept for fixing
    assert cli.ok("rules", "filter", "export", ALICE).stdout == ""


def test_sieve_import_by_upload_and_deleting_one_filter(portal, ids, cli):
    client, base = customer(portal), f"/mailboxes/{ids['alice']}"
    two = INVOICES + 'if address :is "from" "boss@example.com" {\n    keep;\n}\n'
    answer = post(client, f"{base}/filters/import", script="",
                  upload=(io.BytesIO(two.encode()), "mine.sieve"))
    assert answer.status_code == 302
    assert cli.ok("rules", "filter", "export", ALICE).stdout == two
    version = re.search(r'name="version"[^>]*value="([0-9a-f]+)"',
                        client.get(f"{base}/filters").text)
    assert version, "the delete form carries the filters' version"
    stale = post(client, f"{base}/filters/1/delete", version="0" * 16)
    assert stale.status_code == 302 and cli.ok("rules", "filter", "export",
                                               ALICE).stdout == two
    assert post(client, f"{base}/filters/1/delete",
                version=version.group(1)).status_code == 302
    assert cli.ok("rules", "filter", "export", ALICE).stdout == (
        'if address :is "from" "boss@example.com" {\n    keep;\n}\n')
    audit_log = cli.ok("audit", "search", "--customer", "alice").stdout
    assert "filters imported" in audit_log and "filter removed" in audit_log


def test_the_dry_run_of_a_pasted_message(portal, ids, cli):
    client, base = customer(portal), f"/mailboxes/{ids['alice']}"
    assert post(client, f"{base}/filters/import", script=INVOICES).status_code == 302
    answer = post(client, f"{base}/filters/test", recipient=ALICE, sender="",
                  message=MESSAGE)
    assert answer.status_code == 200
    assert "in den Ordner Invoices" in text(answer)
    assert "Ihre Filter: Invoices" in text(answer)
    english = post(customer(portal, language="en"), f"{base}/filters/test",
                   recipient=ALICE, sender="", message=MESSAGE.replace("invoice", "hello"))
    assert "into the inbox" in text(english) and "Invoices" not in text(english)
    # Another customer's address is no choice.
    assert post(client, f"{base}/filters/test", recipient=BOBBY, sender="",
                message=MESSAGE).status_code == 400


def test_the_dry_run_offers_pasting_when_the_mailbox_cannot_be_read(portal, ids, settings,
                                                                     engine):
    # Dovecot's API does not answer here (nothing listens on port 9 of loopback).
    unreachable = replace(settings, portal_secret_key="k" * 40,
                          doveadm_api_url="http://127.0.0.1:9/doveadm/v1",
                          doveadm_api_key="a key")
    client, base = customer(create_app(unreachable, engine)), f"/mailboxes/{ids['alice']}"
    page = client.get(f"{base}/filters/test")
    assert page.status_code == 200
    assert "kann gerade nicht gelesen werden" in text(page)
    assert client.get(f"{base}/filters/test?stored=" + "0" * 32 + ":1").status_code == 200


def test_vacation_set_and_removed(portal, ids, cli):
    client, base = customer(portal), f"/mailboxes/{ids['alice']}"
    vacation = {"first_day": "2026-07-01", "last_day": "2026-07-14", "subject": "Away",
                "text": "Back on the 15th.", "interval_days": "7"}
    backwards = post(client, f"{base}/vacation", **{**vacation, "first_day": "2026-07-20"})
    assert backwards.status_code == 400
    assert "die Abwesenheit endet (2026-07-14) vor ihrem Beginn (2026-07-20)" in text(backwards)
    assert post(client, f"{base}/vacation", **vacation).status_code == 302
    assert "vacation: 2026-07-01 until 2026-07-14, every 7 days: 'Away'" in cli.ok(
        "rules", "show", ALICE).stdout
    assert "Vom 2026-07-01 bis zum 2026-07-14" in text(client.get(f"{base}/vacation"))
    assert post(client, f"{base}/vacation/remove").status_code == 302
    assert "vacation:" not in cli.ok("rules", "show", ALICE).stdout
    audit_log = cli.ok("audit", "search", "--customer", "alice").stdout
    assert "vacation set" in audit_log and "vacation removed" in audit_log


def test_forwarding_and_its_refusal_translated(portal, ids, cli):
    base, address = f"/mailboxes/{ids['alice']}", ids["alice_address"]
    for language, expected in (
            ("de", f"{ALICE} kann nicht an {ALICE} weiterleiten: dasselbe Postfach empfängt "
                   "beide (eine Mailschleife)"),
            ("en", f"{ALICE} cannot forward to {ALICE}: the same mailbox receives both")):
        answer = post(customer(portal, language=language), f"{base}/forwarding",
                      address=address, target=ALICE)
        assert answer.status_code == 400 and expected in text(answer)
    client = customer(portal)
    assert post(client, f"{base}/forwarding", address=address, target="away@example.org",
                keep_copy="y").status_code == 302
    assert f"forward: {ALICE} -> away@example.org (copy kept)" in cli.ok(
        "rules", "show", ALICE).stdout
    assert post(client, f"{base}/forwarding/remove", address=address).status_code == 302
    assert "forward:" not in cli.ok("rules", "show", ALICE).stdout


def test_sms_collection_and_fax(portal, ids, cli):
    client, base = customer(portal), f"/mailboxes/{ids['alice']}"
    assert "keine Telefonnummer: '12'" in text(post(client, f"{base}/sms", phone="12",
                                                   enabled="y"))
    assert post(client, f"{base}/sms", phone="+49 170 1234567", enabled="y").status_code == 302
    assert post(client, f"{base}/sms/rules", kind="subject", value="urgent").status_code == 302
    assert post(client, f"{base}/sms/rules", kind="fax").status_code == 302
    shown = cli.ok("sms", "show", ALICE).stdout
    assert "SMS on, phone +491701234567" in shown and "subject urgent" in shown
    # The collection's hardening: no connection into the provider's own network.
    loopback = post(client, f"{base}/collect", host="127.0.0.1", security="tls",
                    username="me", password="secret", interval_minutes="15")
    assert loopback.status_code == 400
    assert "127.0.0.1 ist keine öffentliche Adresse (a loopback address)" in text(loopback)
    assert post(client, f"{base}/collect", host="192.0.2.7", security="tls", username="me",
                password="secret", leave_on_server="y",
                interval_minutes="30").status_code == 302
    status = cli.ok("collect", "status", "--mailbox", ALICE).stdout
    assert "me at 192.0.2.7:995 (tls, every 30 min" in status
    assert post(client, f"{base}/fax", number="+49 30 1234567",
                format="tiff").status_code == 302
    assert "49301234567  alice@portal.example  tiff" in cli.ok("fax", "list").stdout
    taken = post(customer(portal, "bobby"), f"/mailboxes/{ids['bobby']}/fax",
                 number="49301234567", format="pdf")
    assert taken.status_code == 400 and "gehört zu einem anderen Postfach" in text(taken)
    assert post(client, f"{base}/fax/49301234567/remove").status_code == 302
    assert "no fax numbers" in cli.ok("fax", "list").stdout
    audit_log = cli.ok("audit", "search", "--customer", "alice").stdout
    for action in ("sms phone set", "sms rule added", "collection account added",
                   "fax number set", "fax number removed"):
        assert action in audit_log


MY_BLUEPRINTS = ("rules", "filters", "dry_run", "services")


def alices_things(portal, ids, engine):
    """Alice with one of everything: a filter, an SMS rule, an account, a fax number."""
    client, base = customer(portal), f"/mailboxes/{ids['alice']}"
    assert post(client, f"{base}/filters/import", script=INVOICES).status_code == 302
    assert post(client, f"{base}/sms", phone="+491701234567", enabled="y").status_code == 302
    assert post(client, f"{base}/sms/rules", kind="fax").status_code == 302
    assert post(client, f"{base}/collect", host="192.0.2.7", security="tls", username="me",
                password="secret", interval_minutes="15").status_code == 302
    assert post(client, f"{base}/fax", number="4930555", format="pdf").status_code == 302
    with db.transaction(engine) as session:
        assert session.get(FaxNumber, "4930555") is not None
        return {"mailbox_id": ids["alice"], "number": "4930555",
                "rule_id": session.scalar(select(SmsRule.id)),
                "account_id": session.scalar(select(CollectAccount.id))}


def test_every_url_with_another_customers_ids_is_a_404(portal, ids, engine, cli):
    values = alices_things(portal, ids, engine)
    bobby = customer(portal, "bobby")
    tried = 0
    for rule in portal.url_map.iter_rules():
        if (rule.endpoint.split(".")[0] not in MY_BLUEPRINTS
                or "mailbox_id" not in rule.arguments):
            continue
        arguments = {name: values[name] for name in rule.arguments}
        if rule.endpoint == "filters.delete_filter":
            arguments["number"] = 1
        url = portal.url_map.bind("portal.test").build(rule.endpoint, arguments)
        if "GET" in rule.methods:
            assert bobby.get(url).status_code == 404, url
        if "POST" in rule.methods:
            assert post(bobby, url, address=ids["alice_address"], target="x@example.org",
                        sender="friend@example.com", version="0").status_code == 404, url
        tried += 1
    assert tried == 20    # every page and every form's target
    # Alice's rows under Bobby's own mailbox are as absent.
    own = f"/mailboxes/{ids['bobby']}"
    for url in (f"{own}/sms/rules/{values['rule_id']}/remove",
                f"{own}/collect/{values['account_id']}/remove",
                f"{own}/fax/{values['number']}/remove", f"{own}/forwarding/remove"):
        assert post(bobby, url, address=ids["alice_address"]).status_code == 404, url
    # ... and all of Alice's settings are as they were.
    assert cli.ok("rules", "filter", "export", ALICE).stdout == INVOICES
    assert "fax" in cli.ok("sms", "show", ALICE).stdout
    assert "4930555  alice@portal.example  pdf" in cli.ok("fax", "list").stdout
    assert "192.0.2.7" in cli.ok("collect", "status").stdout


def test_a_support_session_sees_but_cannot_change(portal, ids, cli):
    url = cli.ok("customer", "support-link", "alice", "--staff", "sam").stdout.split()[0]
    support = browser(portal)
    support.get("/" + url.split("/", 3)[3])
    base = f"/mailboxes/{ids['alice']}"
    for path in PAGES:
        assert support.get(f"{base}/{path}").status_code == 200, path
    assert post(support, f"{base}/spam", threshold="1", action="delete").status_code == 403
    assert post(support, f"{base}/filters/import", script=INVOICES).status_code == 403
    assert "spam: on, threshold 5.0, action tag" in cli.ok("rules", "show", ALICE).stdout
