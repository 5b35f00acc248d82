"""DKIM key material and the TXT records to publish (mailbasic/dkim_keys.py); the keys'
life in the database is tested in tests/integration/test_dkim_cli.py."""

import base64
from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailbasic.dkim_keys import (
    _free_selector,
    _valid_selector,
    algorithm_named,
    new_key_material,
    signing_secret,
    txt_strings,
    txt_value,
    zone_line,
)
from mailbasic.errors import InvalidInput
from mailbasic.schema.dkim import DkimAlgorithm

RSA, ED25519 = DkimAlgorithm.RSA_SHA256, DkimAlgorithm.ED25519_SHA256


@pytest.fixture(scope="module")
def rsa_key():
    return new_key_material(RSA)


def test_an_rsa_key_is_2048_bits_and_its_public_part_is_the_der_spki(rsa_key):
    private_pem, public = rsa_key
    assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")  # what dkimpy reads
    private = serialization.load_pem_private_key(private_pem.encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    published = serialization.load_der_public_key(base64.b64decode(public))
    assert published.public_numbers() == private.public_key().public_numbers()
    assert signing_secret(RSA, private_pem) == private_pem.encode()


def test_an_ed25519_key_publishes_its_32_raw_bytes_and_signs_with_its_seed():
    private_pem, public = new_key_material(ED25519)
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert len(base64.b64decode(public)) == 32
    seed = base64.b64decode(signing_secret(ED25519, private_pem))
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    assert base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode() == public


def test_a_key_that_cannot_be_read_or_is_of_the_other_algorithm_raises(rsa_key):
    with pytest.raises(ValueError):
        signing_secret(RSA, "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA "
                            "PRIVATE KEY-----\n")
    with pytest.raises(ValueError):
        signing_secret(ED25519, rsa_key[0])


def test_the_rsa_record_is_cut_into_strings_of_255_bytes_on_one_zone_line(rsa_key):
    _, public = rsa_key
    value = txt_value(RSA, public)
    assert value == f"v=DKIM1; k=rsa; p={public}"
    strings = txt_strings(value)
    assert len(strings) == 2 and len(strings[0]) == 255 and "".join(strings) == value
    line = zone_line("mb202611", "example.net", RSA, public)
    assert line == (f'mb202611._domainkey.example.net. IN TXT "{strings[0]}" '
                    f'"{strings[1]}"')
    assert "\n" not in line


def test_an_ed25519_record_is_one_string():
    public = base64.b64encode(bytes(range(32))).decode()
    assert zone_line("mb202611e", "example.net", ED25519, public) == (
        f'mb202611e._domainkey.example.net. IN TXT "v=DKIM1; k=ed25519; p={public}"')
    assert txt_strings("x" * 510) == ["x" * 255, "x" * 255]
    assert txt_strings("x" * 511) == ["x" * 255, "x" * 255, "x"]


def test_the_default_selector_is_the_month_and_never_one_taken():
    november = date(2026, 11, 30)
    assert _free_selector(set(), RSA, november) == "mb202611"
    assert _free_selector({"mb202611"}, ED25519, november) == "mb202611e"
    assert _free_selector({"mb202611", "mb202611-2"}, RSA, november) == "mb202611-3"


@pytest.mark.parametrize("selector", ["", "a_b", "a.b", "-ab", "ab-", "a" * 64, "s\u00e9l",
                                      "mb202611\n"])
def test_a_selector_is_one_dns_label(selector):
    with pytest.raises(InvalidInput):
        _valid_selector(selector)


def test_a_selector_is_taken_in_lower_case_and_algorithms_by_their_cli_names():
    assert _valid_selector("MB2026-x") == "mb2026-x"
    assert algorithm_named("rsa") is RSA and algorithm_named("ed25519") is ED25519
    with pytest.raises(InvalidInput):
        algorithm_named("rsa-sha1")
