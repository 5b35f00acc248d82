"""App passwords as handed out (128 random bits, typeable) and the checks of a name and of
the protocols, without a database; refusals are templates the portal can translate."""

from __future__ import annotations

import base64
import re

import pytest

from mailbasic.app_passwords import new_password, valid_name, valid_protocols
from mailbasic.errors import InvalidInput


def test_a_password_is_128_random_bits_in_groups_of_four():
    passwords = {new_password() for _ in range(1000)}
    assert len(passwords) == 1000
    for password in passwords:
        assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){5}-[a-z2-7]{2}", password), password
        raw = base64.b32decode(password.replace("-", "").upper() + "======")
        assert len(raw) == 16


def test_protocols_come_in_their_usual_order_each_once():
    assert valid_protocols(["smtp", "IMAP", "imap"]) == ["imap", "smtp"]
    with pytest.raises(InvalidInput) as unknown:
        valid_protocols(["imap", "ftp"])
    assert unknown.value.template == "unknown protocol {protocol}: choose from {protocols}"
    assert str(unknown.value) == "unknown protocol ftp: choose from imap, pop3, smtp"
    with pytest.raises(InvalidInput, match="choose at least one protocol"):
        valid_protocols([])


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there"])
def test_a_name_is_1_to_64_printable_characters(name):
    with pytest.raises(InvalidInput) as refused:
        valid_name(name)
    assert refused.value.values == {"length": 64}


def test_a_name_keeps_its_case_and_loses_surrounding_spaces():
    assert valid_name("  Alice's iPhone ") == "Alice's iPhone"
    assert valid_name("x" * 64) == "x" * 64
