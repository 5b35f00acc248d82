"""Reading `mailbasic import` files: records, and the line each refusal names."""

import io

from mailbasic.errors import InvalidInput
from mailbasic.provisioning import Record, Unreadable, format_of, read


def records(text: str, kind: str):
    return list(read(io.StringIO(text), kind))


def test_format_from_the_name_or_as_given():
    assert format_of("customers.CSV", None) == "csv"
    assert format_of("customers.jsonl", None) == format_of("x.ndjson", None) == "jsonl"
    assert format_of("<stdin>", None) is None
    assert format_of("<stdin>", "csv") == "csv"


def test_a_json_line_is_one_customer_with_its_mailboxes_and_addresses():
    [record] = records(
        '\n{"customer": "alice", "domain": "Example.NET", "password": "secret one",'
        ' "quota": "2G", "mailboxes": [{"address": "alice.work@example.org",'
        ' "password": "secret two", "quota": 1024}], "addresses": [{"address":'
        ' "info@example.net"}, {"address": "sales@example.org", "mailbox":'
        ' "Alice.Work@example.org"}]}\n', "jsonl")
    assert isinstance(record, Record) and record.line == 2
    assert record.first_mailbox == "alice@example.net"
    assert [(m.address, m.password, m.quota) for m in record.mailboxes] == [
        (None, "secret one", "2G"), ("alice.work@example.org", "secret two", 1024)]
    assert [(a.address, a.mailbox) for a in record.addresses] == [
        ("info@example.net", None), ("sales@example.org", "Alice.Work@example.org")]


def test_unreadable_json_lines_name_their_line():
    found = records('{"customer": "alice"\n'
                    '[1]\n'
                    '{"customer": "bobby", "domain": "x.net", "password": "p", "typo": 1}\n'
                    '{"customer": "carla", "domain": "x.net"}\n'
                    '{"customer": "dora1", "domain": "x.net", "password": 7}\n'
                    '{"customer": "eddie", "domain": "x.net", "password": "p", "addresses":'
                    ' [{"address": "a@x.net", "mailbox": "other@x.net"}]}\n', "jsonl")
    assert all(isinstance(item, Unreadable) for item in found)
    assert all(isinstance(item.error, InvalidInput) for item in found)
    assert [(item.line, str(item.error)) for item in found] == [
        (1, "not JSON: Expecting ',' delimiter at column 21"),
        (2, "a customer record must be a JSON object"),
        (3, "unknown field 'typo' in a customer record (known: addresses, customer, "
            "domain, mailboxes, password, quota)"),
        (4, "a customer record needs 'password'"),
        (5, "'password' must be a string"),
        (6, "address a@x.net: other@x.net is not a mailbox of customer eddie (its "
            "mailboxes: eddie@x.net)"),
    ]


CSV = """\
customer,domain,mailbox,password,quota,addresses
alice,example.net,,secret one,2G,info@example.net; sales@example.net
alice,,alice.work@example.org,secret two,1G,

bobby,example.net,bobby@example.net,secret three,,
"""


def test_a_customers_csv_rows_are_one_record():
    alice, bobby = records(CSV, "csv")
    assert (alice.line, bobby.line) == (2, 5)
    assert [(m.line, m.address, m.quota) for m in alice.mailboxes] == [
        (2, None, "2G"), (3, "alice.work@example.org", "1G")]
    assert [(a.line, a.address, a.mailbox) for a in alice.addresses] == [
        (2, "info@example.net", None), (2, "sales@example.net", None)]
    assert [(m.address, m.password, m.quota) for m in bobby.mailboxes] == [
        (None, "secret three", None)]


def test_bad_csv_rows_refuse_their_customer_and_name_the_row():
    found = records("customer,domain,mailbox,password\n"
                    "alice,example.net,,secret one\n"
                    "alice,,,secret two\n"           # a further mailbox needs its address
                    "alice,,alice.work@example.org,secret three\n"  # same customer: skipped
                    "bobby,example.net\n"
                    "carla,example.net,x@example.net,secret\n"
                    "dora1,,,secret\n"
                    "eddie,example.net,,secret four\n", "csv")
    assert [(type(item).__name__, item.line) for item in found] == [
        ("Unreadable", 3), ("Unreadable", 5), ("Unreadable", 6), ("Unreadable", 7),
        ("Record", 8)]
    assert "a further row of customer alice (a further mailbox) needs 'mailbox'" in \
        str(found[0].error)
    assert str(found[1].error) == "2 columns, but the header has 4"
    assert "the first mailbox of customer carla is carla@example.net" in str(found[2].error)
    assert str(found[3].error) == "a customer's first row needs 'domain'"


def test_a_bad_csv_header_is_one_refusal():
    [found] = records("customer,domain,pasword\nalice,example.net,x\n", "csv")
    assert found.line == 1 and "unknown column 'pasword'" in str(found.error)
    [found] = records("customer,password\n", "csv")
    assert str(found.error) == "the header needs a column 'domain'"
    assert records("", "csv") == []
