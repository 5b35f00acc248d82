"""The evaluator's matching rules and the implicit keep, one behaviour per test; what
sieve-test does with the same scripts is compared in the differential test."""

import logging

import pytest

from mailbasic.rules import model
from mailbasic.rules.evaluate import MessageFacts, evaluate, matches
from mailbasic.rules.sieve import parse

MESSAGE = (b"From: =?utf-8?q?J=C3=BCrgen?= <Juergen@Bank.Example>\r\n"
           b"To: dora@rules.example, \"Team\" <team@rules.example>\r\n"
           b"Subject: =?utf-8?q?Rechnung_f=C3=BCr_das_B=C3=BCro?=\r\n"
           b"X-Long: first\r\n second\r\n\r\nHallo.\r\n")


def run(script: str, message: bytes = MESSAGE) -> model.Delivery:
    return evaluate(parse(script), MessageFacts.parse(message))


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
