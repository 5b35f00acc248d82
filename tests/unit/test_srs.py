"""SRS0/SRS1 addresses: round trips, tampering, expiry, rotation, garbage."""

import random

import pytest

from mailbasic.srs import Srs, SrsError, is_srs

DAY = 86400
SECRET = b"a secret for the tests"


def srs(day: int = 20000, secrets=(SECRET,)) -> Srs:
    return Srs(list(secrets), max_age_days=21, now=lambda: day * DAY + 3600)


@pytest.mark.parametrize("sender", ["someone@remote.example", "Mixed.Case@Remote.Example",
                                    "a+tag=x@remote.example", '"quoted name"@remote.example',
                                    "x-y@sub.remote.example"])
def test_forward_then_reverse_gives_the_sender_back(sender):
    address = srs().forward(sender, "example.net")
    assert address.startswith("SRS0=") and address.endswith("@example.net")
    assert srs().reverse(address) == sender
    assert srs().reverse(address.lower()).lower() == sender.lower()  # hash case-insensitive


def test_a_second_hop_makes_srs1_which_reverses_to_the_first_hop():
    first = srs().forward("someone@remote.example", "first.example")
    second = srs().forward(first, "second.example")
    assert second.startswith("SRS1=") and "=first.example==" in second
    assert srs().reverse(second) == first
    assert srs().forward(second, "third.example").startswith("SRS1=")


def test_unchanged_null_sender_and_own_domain():
    assert srs().forward("", "example.net") == ""
    assert srs().forward("me@example.net", "example.net") == "me@example.net"


def test_a_tampered_address_is_refused():
    address = srs().forward("someone@remote.example", "example.net")
    with pytest.raises(SrsError, match="wrong hash"):
        srs().reverse(address.replace("remote.example", "evil.example"))


def test_an_old_address_expires_also_across_the_1024_day_wrap():
    address = srs(day=1023).forward("someone@remote.example", "example.net")
    assert srs(day=1024 + 10).reverse(address) == "someone@remote.example"  # 11 days
    with pytest.raises(SrsError, match="expired"):
        srs(day=1023 + 22).reverse(address)


def test_every_secret_verifies_the_first_signs():
    old = srs(secrets=(b"the old secret",)).forward("someone@remote.example", "example.net")
    rotated = srs(secrets=(SECRET, b"the old secret"))
    assert rotated.reverse(old) == "someone@remote.example"
    with pytest.raises(SrsError):
        srs().reverse(old)


def test_garbage_gives_srs_errors_only():
    generator = random.Random(2003)
    alphabet = "SRS01=+-@abc.=AZ27"
    for _ in range(500):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 30)))
        try:
            srs().reverse(text)
        except SrsError:
            pass
    assert not is_srs("someone@remote.example") and is_srs("srs0=x@y")
