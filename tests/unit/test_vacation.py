"""When a vacation reply goes out, and what it looks like (incl. header injection)."""

from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pytest

from mailbasic.rules import model
from mailbasic.rules.vacation import Incoming, Vacation, compose_reply, reason_not_to_reply

AWAY = Vacation(date(2026, 12, 20), date(2027, 1, 6), "Im Urlaub", "Ab dem 7. wieder da.")
MINE = {"dora@rules.example", "d.alias@rules.example"}
TODAY = date(2026, 12, 24)
ORIGINAL = (b"From: Someone <someone@remote.example>\r\nTo: Dora@Rules.Example\r\n"
            b"Subject: Frage\r\nMessage-ID: <q1@remote.example>\r\n"
            b"References: <q0@remote.example>\r\n\r\nHallo?\r\n")


def incoming(extra: bytes = b"", sender: str = "someone@remote.example",
             original: bytes = ORIGINAL) -> Incoming:
    return Incoming.parse(sender, extra + original)


def test_a_person_writing_to_the_mailbox_gets_a_reply():
    assert reason_not_to_reply(AWAY, incoming(), MINE, TODAY) is None


@pytest.mark.parametrize("day, reason", [
    (date(2026, 12, 19), "outside vacation dates"), (date(2026, 12, 20), None),
    (date(2027, 1, 6), None), (date(2027, 1, 7), "outside vacation dates")])
def test_the_dates_are_inclusive_and_the_reply_stops_by_itself(day, reason):
    assert reason_not_to_reply(AWAY, incoming(), MINE, day) == reason


@pytest.mark.parametrize("extra, sender, reason", [
    (b"", "", "null sender"),
    (b"Auto-Submitted: auto-replied\r\n", "someone@remote.example", "auto-submitted"),
    (b"Precedence: bulk\r\n", "someone@remote.example", "precedence bulk"),
    (b"Precedence: list\r\n", "someone@remote.example", "precedence bulk"),
    (b"List-Id: <x.remote.example>\r\n", "someone@remote.example", "mailing list"),
    (b"X-Spam-Flag: YES\r\n", "someone@remote.example", "spam"),
    (b"", "MAILER-DAEMON@remote.example", "automated sender"),
    (b"", "noreply@remote.example", "automated sender"),
    (b"", "owner-list@remote.example", "automated sender"),
    (b"", "list-request@remote.example", "automated sender"),
])
def test_no_reply_to_machines_lists_and_spam(extra, sender, reason):
    assert reason_not_to_reply(AWAY, incoming(extra, sender), MINE, TODAY) == reason


@pytest.mark.parametrize("extra, reason", [
    (b"X-Auto-Response-Suppress: OOF\r\n", "auto-response suppressed"),
    (b"X-Auto-Response-Suppress: all\r\n", "auto-response suppressed"),
    (b"X-Auto-Response-Suppress: DR, RN,NRN, oof\r\n", "auto-response suppressed"),
    (b"X-Auto-Response-Suppress: DR\r\nX-Auto-Response-Suppress: AutoReply, All\r\n",
     "auto-response suppressed"),
    (b"X-Auto-Response-Suppress: DR, RN, NRN, AutoReply\r\n", None),
    (b"X-Auto-Response-Suppress: \r\n", None),
    (b"X-Auto-Response-Suppress: Alloof\r\n", None),
])
def test_exchanges_auto_response_suppress_is_honoured_for_oof_and_all(extra, reason):
    assert reason_not_to_reply(AWAY, incoming(extra), MINE, TODAY) == reason


def test_a_filters_vacation_has_no_dates_and_counts_its_addresses_as_the_owners():
    action = model.Vacation("I am away", 3, "Away", ("Dora.Private@Home.Example",))
    vacation = Vacation.of_filter(action)
    assert reason_not_to_reply(vacation, incoming(), MINE, date(1999, 1, 1)) is None
    private = ORIGINAL.replace(b"To: Dora@Rules.Example", b"To: dora.private@home.example")
    assert reason_not_to_reply(vacation, incoming(original=private), MINE, TODAY) is None
    assert reason_not_to_reply(Vacation.of_filter(model.Vacation("x")),
                               incoming(original=private), MINE, TODAY) == \
        "not addressed directly"
    assert reason_not_to_reply(vacation, incoming(sender=""), MINE, TODAY) == "null sender"


def test_auto_submitted_no_is_a_person():
    assert reason_not_to_reply(AWAY, incoming(b"Auto-Submitted: no\r\n"), MINE, TODAY) is None


def test_only_when_one_of_the_mailboxs_addresses_is_in_to_or_cc():
    blind = ORIGINAL.replace(b"To: Dora@Rules.Example", b"To: other@remote.example")
    assert reason_not_to_reply(AWAY, incoming(original=blind), MINE, TODAY) == \
        "not addressed directly"
    alias = blind.replace(b"Subject:", b"Cc: <D.Alias@rules.example>\r\nSubject:")
    assert reason_not_to_reply(AWAY, incoming(original=alias), MINE, TODAY) is None


def reply_headers(raw: bytes) -> dict:
    parsed = message_from_bytes(raw, policy=policy.default)
    return {name.lower(): str(value) for name, value in parsed.items()}, parsed


def compose(original: bytes, vacation: Vacation = AWAY) -> tuple[dict, object]:
    return reply_headers(compose_reply(
        vacation, incoming(original=original), "dora@rules.example", "someone@remote.example",
        datetime(2026, 12, 24, 10, tzinfo=UTC), "rules.example"))


def test_the_reply_threads_and_says_it_is_automatic():
    headers, parsed = compose(ORIGINAL)
    assert set(headers) == {"from", "to", "subject", "date", "message-id", "auto-submitted",
                            "in-reply-to", "references", "content-type",
                            "content-transfer-encoding", "mime-version"}
    assert headers["auto-submitted"] == "auto-replied"
    assert headers["in-reply-to"] == "<q1@remote.example>"
    assert headers["references"] == "<q0@remote.example> <q1@remote.example>"
    assert headers["subject"] == "Im Urlaub"
    assert parsed.get_content().strip() == "Ab dem 7. wieder da."


@pytest.mark.parametrize("subject", [
    b"Subject: =?utf-8?q?hi=0D=0ABcc:_victim@example.org?=\r\n",
    b"Subject: =?utf-8?b?aGkNCkJjYzogdmljdGltQGV4YW1wbGUub3Jn?=\r\n",
])
def test_an_encoded_newline_in_the_subject_injects_no_header(subject):
    original = ORIGINAL.replace(b"Subject: Frage\r\n", subject)
    headers, _ = compose(original, Vacation(AWAY.first_day, AWAY.last_day, "", "Weg."))
    assert "bcc" not in headers
    assert headers["subject"] == "Auto: hi Bcc: victim@example.org"


def test_garbage_message_ids_are_not_copied():
    original = ORIGINAL.replace(b"<q1@remote.example>", b"<q1@remote.example>\r\n\tBcc: x@y")
    headers, _ = compose(original.replace(b"References: <q0@remote.example>\r\n", b""))
    assert "in-reply-to" not in headers and "bcc" not in headers


def test_non_ascii_subjects_survive():
    headers, _ = compose(ORIGINAL, Vacation(AWAY.first_day, AWAY.last_day, "Büro geschlossen",
                                            "Bis bald."))
    assert headers["subject"] == "Büro geschlossen"


def test_garbage_headers_do_not_raise():
    for raw in (b"", b"\xff\xfe", b"To: <<<>>>\r\nSubject: =?x?q?y?=\r\n\r\n"):
        reason_not_to_reply(AWAY, Incoming.parse("a@b.example", raw), MINE, TODAY)
