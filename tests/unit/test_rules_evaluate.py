"""The evaluator's matching rules and the implicit keep, one behaviour per test; what
sieve-test does with the same scripts is compared in the differential test."""

import logging

import pytest

from mailbasic.rules import model
from mailbasic.rules.evaluate import Envelope, MessageFacts, evaluate, matches
from mailbasic.rules.sieve import parse

MESSAGE = (b"From: =?utf-8?q?J=C3=BCrgen?= <Juergen@Bank.Example>\r\n"
           b"To: dora@rules.example, \"Team\" <team@rules.example>\r\n"
           b"Subject: =?utf-8?q?Rechnung_f=C3=BCr_das_B=C3=BCro?=\r\n"
           b"X-Long: first\r\n second\r\n\r\nHallo.\r\n")


def run(script: str, message: bytes = MESSAGE, envelope: Envelope = Envelope()) -> model.Delivery:
    return evaluate(parse(script), MessageFacts.parse(message), envelope)


@pytest.mark.parametrize("value, key, match, comparator, expected", [
    ("Büro", "büro", "is", "i;ascii-casemap", True),
    ("BÜRO", "bÜro", "is", "i;ascii-casemap", True),    # only A-Z fold, Ü stays
    ("BÜRO", "büro", "is", "i;ascii-casemap", False),
    ("Bank", "bank", "is", "i;ascii-casemap", True),
    ("Bank", "bank", "is", "i;octet", False),
    ("Rechnung 7", "nung", "contains", "i;ascii-casemap", True),
    ("Rechnung 7", "Rechnung ?", "matches", "i;ascii-casemap", True),
    ("Rechnung 77", "Rechnung ?", "matches", "i;ascii-casemap", False),
    ("Büro", "B?ro", "matches", "i;ascii-casemap", True),  # ? is one character, not a byte
    ("a*b", "a\\*b", "matches", "i;ascii-casemap", True),
    ("axb", "a\\*b", "matches", "i;ascii-casemap", False),
    ("line one\nline two", "*two", "matches", "i;ascii-casemap", True),
    ("order 12345", "^order [0-9]+$", "regex", "i;ascii-casemap", True),
    ("ORDER 1", "^order", "regex", "i;octet", False),
])
def test_match_types_and_comparators(value, key, match, comparator, expected):
    assert matches(value, key, match, comparator) is expected


def test_a_catastrophic_regex_is_cut_off_and_counts_as_no_match(caplog):
    with caplog.at_level(logging.WARNING, logger="mailbasic.rules"):
        assert not matches("a" * 5000 + "!", "^(a|aa)+$", "regex", "i;ascii-casemap")
    assert "took longer than" in caplog.text


def test_encoded_headers_are_compared_decoded():
    assert run('require "fileinto";\nif header :contains "subject" "für das Büro"'
               ' { fileinto "Büro"; }').folders == ("Büro",)


def test_folded_headers_are_unfolded():
    assert run('require "fileinto";\nif header :is "x-long" "first second"'
               ' { fileinto "F"; }').folders == ("F",)


def test_address_parts_of_every_address_in_the_header():
    assert run('require "fileinto";\nif address :localpart :is "to" "team"'
               ' { fileinto "T"; }').folders == ("T",)
    assert run('require "fileinto";\nif address :domain :is "from" "bank.example"'
               ' { fileinto "B"; }').folders == ("B",)


BOUNCE = Envelope("", "Dora+Akten@Rules.Example")
PERSON = Envelope("Juergen@Bank.Example", "dora@rules.example")


@pytest.mark.parametrize("test, envelope, expected", [
    ('envelope :is "from" "juergen@bank.example"', PERSON, True),
    ('envelope :domain :is "from" "bank.example"', PERSON, True),
    ('envelope :localpart :contains "from" "uerg"', PERSON, True),
    ('envelope :all :matches "from" "*@bank.*"', PERSON, True),
    ('envelope :comparator "i;octet" :is "from" "juergen@bank.example"', PERSON, False),
    ('envelope :is "from" "Juergen@Bank.Example"', BOUNCE, False),
    # RFC 5228 5.4: the null sender is "" whatever the address part.
    ('envelope :all :is "from" ""', BOUNCE, True),
    ('envelope :localpart :is "from" ""', BOUNCE, True),
    ('envelope :domain :is "from" ""', BOUNCE, True),
    ('envelope :matches "from" "?*"', BOUNCE, False),
    ('envelope :is "from" ""', PERSON, False),
    # "to" is this recipient's RCPT TO, detail and all; not the To: header.
    ('envelope :is "to" "dora+akten@rules.example"', BOUNCE, True),
    ('envelope :localpart :is "to" "dora+akten"', BOUNCE, True),
    ('envelope :domain :is "to" "rules.example"', PERSON, True),
    ('envelope :is "to" "team@rules.example"', PERSON, False),
    ('envelope :is "to" ""', Envelope("a@b.example", ""), False),
    ('envelope :contains ["to", "from"] "bank"', PERSON, True),
])
def test_envelope_reads_the_smtp_envelope_of_this_recipient(test, envelope, expected):
    delivery = run(f'require ["envelope", "fileinto"];\nif {test} {{ fileinto "E"; }}',
                   envelope=envelope)
    assert (delivery.folders == ("E",)) is expected


def test_vacation_and_notify_are_asked_for_and_leave_the_keep_alone():
    delivery = run('require ["vacation", "enotify"];\n'
                   'if address :is "from" "juergen@bank.example" {\n'
                   '    vacation :days 3 :subject "Away" "I am away";\n'
                   '    notify "mailto:dora@mobile.example";\n'
                   '    notify :message "again" "mailto:dora@mobile.example";\n}\n')
    assert delivery.folders == ("INBOX",)
    assert delivery.vacation == model.Vacation("I am away", 3, "Away")
    assert delivery.notifications == (model.Notify("dora@mobile.example"),)
    other = run('require "vacation";\nif address :is "from" "boss@example.com" '
                '{ vacation "I am away"; }')
    assert other.vacation is None and other.folders == ("INBOX",)


def test_a_second_vacation_fails_the_script_as_in_pigeonhole():
    delivery = run('require ["vacation", "fileinto"];\nfileinto "A";\nvacation "one";\n'
                   'vacation :subject "2" "two";\n')
    assert delivery == model.Delivery(("INBOX",))


def test_implicit_keep_is_cancelled_by_fileinto_redirect_and_discard_only():
    assert run('require "fileinto";\nfileinto "A";').folders == ("A",)
    assert run('require ["fileinto", "copy"];\nfileinto :copy "A";').folders == ("A", "INBOX")
    assert run('redirect "x@y.example";') == model.Delivery((), ("x@y.example",))
    assert run('discard;').discarded
    assert run('discard;\nkeep;').folders == ("INBOX",)
    assert run('').folders == ("INBOX",)


def test_stop_inside_a_nested_block_ends_the_whole_script():
    assert run('require "fileinto";\nif true { if true { stop; } }\nfileinto "never";'
               ).folders == ("INBOX",)


def test_more_redirects_than_pigeonhole_allows_keeps_the_message():
    script = "\n".join(f'redirect "r{n}@y.example";' for n in range(5))
    assert run(script) == model.Delivery(("INBOX",))


def test_garbage_never_raises():
    for raw in (b"", b"\xff\xfe\x00", b"Subject: =?bogus?q?x?=\r\n\r\n", b"no headers at all",
                b"From: <<<@@@>>>\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n"):
        facts = MessageFacts.parse(raw)
        evaluate(parse('require "body";\nif anyof (address "from" "x", body :contains "x",'
                       ' header :contains "subject" "x") { discard; }'), facts)
