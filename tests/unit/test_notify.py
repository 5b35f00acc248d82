"""The filters' notify action: when a notification goes out, and what it looks like."""

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from mailbasic.rules.model import Notify
from mailbasic.rules.notify import compose_notification, reason_not_to_notify
from mailbasic.rules.vacation import Incoming

ORIGINAL = (b"From: Chef <chef@remote.example>\r\nTo: dora@rules.example\r\n"
            b"Subject: Quartalszahlen\r\nMessage-ID: <q1@remote.example>\r\n\r\nHallo\r\n")


def compose(notify: Notify, original: bytes = ORIGINAL):
    raw = compose_notification(notify, Incoming.parse("chef@remote.example", original),
                               "dora@rules.example",
                               datetime(2026, 12, 24, 10, tzinfo=UTC), "rules.example")
    return message_from_bytes(raw, policy=policy.default)


def test_a_notification_names_the_sender_and_subject_and_says_it_is_automatic():
    sent = compose(Notify("dora@mobile.example"))
    assert sent["To"] == "dora@mobile.example" and sent["From"] == "dora@rules.example"
    assert sent["Subject"] == "Notification: Quartalszahlen"
    assert sent["Auto-Submitted"] == 'auto-notified; owner-email="dora@rules.example"'
    assert sent["Precedence"] == "bulk"
    assert "X-Priority" not in sent and "In-Reply-To" not in sent
    body = sent.get_content()
    assert "chef@remote.example" in body and "Quartalszahlen" in body and "Hallo" not in body


def test_the_message_is_the_subject_and_importance_becomes_priority():
    sent = compose(Notify("dora@mobile.example", "Vom Chef!", "1"))
    assert sent["Subject"] == "Vom Chef!"
    assert (sent["X-Priority"], sent["Importance"]) == ("1 (Highest)", "High")
    assert compose(Notify("d@m.example", "", "3"))["Importance"] == "Low"


def test_an_encoded_newline_in_the_subject_injects_no_header():
    original = ORIGINAL.replace(b"Subject: Quartalszahlen",
                                b"Subject: =?utf-8?q?hi=0D=0ABcc:_victim@example.org?=")
    sent = compose(Notify("dora@mobile.example"), original)
    assert "Bcc" not in sent and sent["Subject"] == "Notification: hi Bcc: victim@example.org"


@pytest.mark.parametrize("extra, reason", [
    (b"", None), (b"Auto-Submitted: no\r\n", None),
    (b"Auto-Submitted: auto-replied\r\n", "auto-submitted"),
    (b"Auto-Submitted: auto-notified; owner-email=\"x@y.example\"\r\n", "auto-submitted"),
])
def test_no_notification_about_automatic_mail(extra, reason):
    assert reason_not_to_notify(Incoming.parse("chef@remote.example", extra + ORIGINAL)) == reason
