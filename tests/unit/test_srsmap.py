"""The SRS socketmap table: netstrings in and out, lookups answered as Postfix expects."""

import io

import pytest

from mailbasic.socketmap import NetstringError, netstring, read_netstring
from mailbasic.srs import Srs
from mailbasic.srsmap import ReverseTable

SRS = Srs([b"a secret for the tests"])
TABLE = ReverseTable(SRS, "srs.example.net")


def test_netstrings_round_trip_and_a_clean_end_is_none():
    stream = io.BytesIO(netstring("reverse a@b.example") + netstring("Büro"))
    assert read_netstring(stream) == b"reverse a@b.example"
    assert read_netstring(stream).decode() == "Büro"
    assert read_netstring(stream) is None


@pytest.mark.parametrize("data", [b"5:abc", b"3:abc;", b"x:abc,", b"999999999:a,", b"12",
                                  b":abc,"])
def test_broken_netstrings_are_refused(data):
    with pytest.raises(NetstringError):
        read_netstring(io.BytesIO(data))


def test_a_valid_srs_address_reverses_to_the_original_sender():
    address = SRS.forward("someone@remote.example", "srs.example.net")
    assert TABLE.lookup(f"reverse {address}") == "OK someone@remote.example"


def test_other_domains_forgeries_and_other_tables_are_not_found():
    address = SRS.forward("someone@remote.example", "srs.example.net")
    assert TABLE.lookup("reverse alice@example.net") == "NOTFOUND "
    assert TABLE.lookup(f"reverse {address.replace('srs.example.net', 'other.example')}") \
        == "NOTFOUND "
    assert TABLE.lookup(f"reverse {address.replace('remote', 'evil')}") == "NOTFOUND "
    assert TABLE.lookup("forward x@y").startswith("PERM ")
