"""`mailbasic rules ...` against the real PostgreSQL: settings, refusals, the view Dovecot
reads folder tokens from, and `rules test`."""

import json
from datetime import date

import pytest
from sqlalchemy import text

from mailbasic.rules.folders import folder_token

BOB = "bob.rules@example.net"
SIEVE = """require ["fileinto", "copy"];
# invoices
if anyof (header :contains "subject" "Rechnung", address :domain :is "from" "bank.example") {
    fileinto "Rechnungen 2026";
} elsif header :matches "subject" "*newsletter*" {
    discard;
    stop;
}
if address :is "from" "chef@remote.example" { fileinto :copy "Büro"; }
"""

MESSAGE = (b"From: Chef <chef@remote.example>\r\nTo: bob.rules@example.net\r\n"
           b"Subject: Rechnung 7\r\nMessage-ID: <1@remote.example>\r\nX-Spam-Score: 2.5\r\n"
           b"\r\nBitte zahlen.\r\n")


@pytest.fixture
def hosted(cli):
    cli.ok("domain", "add", "example.net")
    cli.ok("customer", "add", "bob.rules", "--domain", "example.net", "--password-stdin",
           input="a long secret\n")
    return cli


def test_sieve_import_export_round_trip(hosted, tmp_path):
    script = tmp_path / "bob.sieve"
    script.write_text(SIEVE, encoding="utf-8")
    hosted.ok("rules", "filter", "import", BOB, str(script))
    exported = hosted.ok("rules", "filter", "export", BOB).output
    assert "Rechnungen 2026" in exported and "Büro" in exported
    again = tmp_path / "again.sieve"
    again.write_text(exported, encoding="utf-8")
    hosted.ok("rules", "filter", "import", BOB, str(again))
    assert hosted.ok("rules", "filter", "export", BOB).output == exported


def test_unsupported_sieve_is_refused_with_its_line(hosted, tmp_path):
    script = tmp_path / "bad.sieve"
    script.write_text('require ["fileinto"];\n\nvacation "I am away";\n', encoding="utf-8")
    error = hosted.refused(7, "rules", "filter", "import", BOB, str(script))
    assert "line 3" in error
    assert hosted.ok("rules", "filter", "export", BOB).output == ""


def test_folders_reach_dovecots_view_with_the_milters_tokens(hosted, engine, tmp_path):
    script = tmp_path / "bob.sieve"
    script.write_text(SIEVE, encoding="utf-8")
    hosted.ok("rules", "filter", "import", BOB, str(script))
    with engine.connect() as connection:
        delivery = connection.execute(text(
            "SELECT script FROM dovecot_delivery_scripts WHERE username = :user"),
            {"user": BOB}).scalar_one()
    for folder in ("Rechnungen 2026", "Büro", "Spam"):
        assert f'"{folder_token(folder)}" {{ fileinto :create "{folder}"; stop; }}' in delivery


def test_spam_lists_forward_and_vacation_settings_show_up(hosted):
    hosted.ok("rules", "spam", BOB, "--threshold", "3.5", "--action", "folder")
    hosted.ok("rules", "whitelist", BOB, "Friend@Remote.Example")
    hosted.ok("rules", "blacklist", BOB, "@pushy.example")
    hosted.ok("rules", "forward", BOB, "bob@elsewhere.example", "--keep-copy")
    hosted.ok("rules", "vacation", BOB, "--from", "2026-12-20", "--until", "2027-01-06",
              "--subject", "Urlaub", "--text", "Bis bald.")
    view = json.loads(hosted.ok("rules", "show", BOB, "--json").output)
    assert view["spam"] == {"enabled": True, "threshold": 3.5, "action": "folder"}
    assert view["whitelist"] == ["friend@remote.example"]
    assert view["blacklist"] == ["@pushy.example"]
    assert view["forwards"] == {BOB: {"target": "bob@elsewhere.example", "keep_copy": True}}
    assert view["vacation"]["until"] == "2027-01-06"


def test_refusals(hosted):
    assert "neither an address" in hosted.refused(7, "rules", "whitelist", BOB, "not-an-address")
    assert "mail loop" in hosted.refused(9, "rules", "forward", BOB, BOB.upper())
    assert "before it starts" in hosted.refused(7, "rules", "vacation", BOB, "--from",
                                         "2026-12-20", "--until", "2026-12-01", "--text", "x")
    assert "does not exist" in hosted.refused(4, "rules", "spam", "nobody.here@example.net",
                                       "--off")
    assert "FIELD MATCH VALUE" in hosted.refused(7, "rules", "filter", "add", BOB, "--if",
                                          "subject", "--discard")
    assert "is not forwarded" in hosted.refused(4, "rules", "forward", BOB, "--remove")


def test_rules_test_explains_without_delivering(hosted, tmp_path):
    script = tmp_path / "bob.sieve"
    script.write_text(SIEVE, encoding="utf-8")
    hosted.ok("rules", "filter", "import", BOB, str(script))
    message = tmp_path / "message.eml"
    message.write_bytes(MESSAGE)
    result = json.loads(hosted.ok("rules", "test", "--mailbox", BOB, str(message),
                                  "--json").output)
    assert result["folders"] == ["Rechnungen 2026", "Büro"]
    assert result["spam_score"] == 2.5 and not result["spam"]
    hosted.ok("rules", "blacklist", BOB, "chef@remote.example")
    hosted.ok("rules", "spam", BOB, "--action", "delete")
    text_output = hosted.ok("rules", "test", "--mailbox", BOB, str(message)).output
    assert "discarded" in text_output and "blacklisted" in text_output


def test_rules_test_takes_the_from_address_as_envelope_sender_unless_told(hosted, tmp_path):
    today = date.today().isoformat()
    hosted.ok("rules", "vacation", BOB, "--from", today, "--until", today, "--text", "Weg.")
    script = tmp_path / "bob.sieve"
    script.write_text('require ["envelope", "fileinto", "enotify"];\n'
                      'if envelope :is "from" "chef@remote.example" { fileinto "Chef"; }\n'
                      'notify "mailto:bob@mobile.example";\n', encoding="utf-8")
    hosted.ok("rules", "filter", "import", BOB, str(script))
    message = tmp_path / "message.eml"
    message.write_bytes(MESSAGE)
    result = json.loads(hosted.ok("rules", "test", "--mailbox", BOB, str(message),
                                  "--json").output)
    assert result["folders"] == ["Chef"]
    assert result["vacation_reply"] == "yes (once per 7 days per sender)"
    assert result["notifications"] == {"bob@mobile.example": "yes"}
    bounce = json.loads(hosted.ok("rules", "test", "--mailbox", BOB, str(message),
                                  "--sender", "", "--json").output)
    assert bounce["folders"] == ["INBOX"] and bounce["vacation_reply"] == "null sender"
    text_output = hosted.ok("rules", "test", "--mailbox", BOB, str(message)).output
    assert "notification to bob@mobile.example: yes" in text_output
