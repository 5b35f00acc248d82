import pytest

from mailbasic.errors import InvalidInput
from mailbasic.passwords import hash_password, verify_password


def test_hash_is_dovecot_blf_crypt_and_verifies():
    stored = hash_password("correct horse", cost=4)
    assert stored.startswith("{BLF-CRYPT}$2b$04$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsf", stored)


def test_same_password_gets_different_salts():
    assert hash_password("correct horse", 4) != hash_password("correct horse", 4)


@pytest.mark.parametrize("password, message", [
    ("short", "too short"),
    ("x" * 73, "too long"),
    ("ü" * 37, "too long"),  # 74 bytes: bcrypt would silently cut it
    ("with\nnewline", "control characters"),
    ("tab\there-too", "control characters"),
])
def test_unusable_passwords_are_refused(password, message):
    with pytest.raises(InvalidInput, match=message):
        hash_password(password, 4)


def test_unknown_scheme_never_verifies():
    assert not verify_password("anything", "{PLAIN}anything")
