"""`mailbasic sms ...` against the real PostgreSQL: settings, rules, refusals, and the
constraints that hold even when the CLI is bypassed."""

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

MAILBOX = "rita.sms@example.net"


@pytest.fixture
def hosted(cli):
    cli.ok("domain", "add", "example.net")
    cli.ok("customer", "add", "rita.sms", "--domain", "example.net", "--password-stdin",
           input="a long secret\n")
    return cli


def test_phone_and_rules_round_trip(hosted):
    assert "SMS to +491701234567 on" in hosted.ok(
        "sms", "set", MAILBOX, "--phone", "+49 (170) 123-4567").output
    hosted.ok("sms", "rule", "add", MAILBOX, "--sender", "Chef@Firma.example")
    hosted.ok("sms", "rule", "add", MAILBOX, "--subject", "Dringend")
    hosted.ok("sms", "rule", "add", MAILBOX, "--fax")
    hosted.ok("sms", "set", MAILBOX, "--disable")
    view = json.loads(hosted.ok("sms", "show", MAILBOX, "--json").output)
    assert (view["phone"], view["enabled"]) == ("+491701234567", False)
    assert [(rule["kind"], rule["value"]) for rule in view["rules"]] == [
        ("sender", "chef@firma.example"), ("subject", "Dringend"), ("fax", None)]
    hosted.ok("sms", "rule", "remove", MAILBOX, str(view["rules"][1]["id"]))
    assert "Dringend" not in hosted.ok("sms", "show", MAILBOX).output
    assert len(json.loads(hosted.ok("sms", "show", MAILBOX, "--json").output)["rules"]) == 2
    assert hosted.ok("sms", "outbox", "--json").output.strip() == "[]"


def test_refusals_are_clear_and_change_nothing(hosted):
    assert "not a phone number" in hosted.refused(7, "sms", "set", MAILBOX, "--phone", "12")
    assert "give --phone" in hosted.refused(7, "sms", "set", MAILBOX, "--enable")
    assert "no phone number" in hosted.refused(7, "sms", "set", MAILBOX, "--disable")
    assert "ghost@example.net" in hosted.refused(4, "sms", "show", "ghost@example.net")
    assert "exactly one" in hosted.refused(7, "sms", "rule", "add", MAILBOX,
                                    "--fax", "--subject", "x")
    assert "exactly one" in hosted.refused(7, "sms", "rule", "add", MAILBOX)
    assert "neither an address" in hosted.refused(7, "sms", "rule", "add", MAILBOX,
                                           "--sender", "no at sign")
    assert "1 to 200" in hosted.refused(7, "sms", "rule", "add", MAILBOX, "--subject", " ")
    hosted.ok("sms", "rule", "add", MAILBOX, "--high-priority")
    assert "already has" in hosted.refused(5, "sms", "rule", "add", MAILBOX,
                                    "--high-priority")
    assert "no SMS rule 999" in hosted.refused(4, "sms", "rule", "remove", MAILBOX, "999")
    view = json.loads(hosted.ok("sms", "show", MAILBOX, "--json").output)
    assert view["phone"] is None and [rule["kind"] for rule in view["rules"]] == [
        "high-priority"]


@pytest.mark.parametrize("statement", [
    "INSERT INTO sms_settings (mailbox_id, phone) VALUES (:id, '12ab')",
    "INSERT INTO sms_rules (mailbox_id, kind, value) VALUES (:id, 'sender', 'nobody')",
    "INSERT INTO sms_rules (mailbox_id, kind, value) VALUES (:id, 'fax', 'x')",
    "INSERT INTO sms_rules (mailbox_id, kind) VALUES (:id, 'subject')",
    "INSERT INTO sms_outbox (mailbox_id, phone, text, reason)"
    " VALUES (:id, '1', repeat('x', 161), 'r')",
])
def test_the_database_refuses_what_the_cli_refuses(hosted, engine, statement):
    with engine.begin() as connection:
        mailbox_id = connection.execute(text("SELECT id FROM mailboxes")).scalar_one()
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(statement), {"id": mailbox_id})


def test_a_fax_rule_is_unique_although_its_value_is_null(hosted, engine):
    hosted.ok("sms", "rule", "add", MAILBOX, "--fax")
    with engine.begin() as connection:
        mailbox_id = connection.execute(text("SELECT id FROM mailboxes")).scalar_one()
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("INSERT INTO sms_rules (mailbox_id, kind) VALUES (:id, 'fax')"),
                           {"id": mailbox_id})
