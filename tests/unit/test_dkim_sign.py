"""The milter's stage dkim_sign, called directly: which messages it signs, with which
keys, over which headers and body; the signature verified against a real DNS server is in
tests/integration/test_dkim_stage.py and, through Postfix, tests/e2e/test_dkim_signing.py."""

import base64
import hashlib
import re

import pytest
from dkim.util import parse_tag_value

from mailbasic.dkim_keys import new_key_material, signing_secret
from mailbasic.milter.decisions import (
    AddHeader,
    DeleteHeader,
    Outcome,
    ReplaceBody,
)
from mailbasic.milter.message import Client, Message
from mailbasic.milter.spool import Spool
from mailbasic.milter.stages.dkim_sign import (
    DkimSignStage,
    SigningKey,
    delivered_body,
    delivered_headers,
)
from mailbasic.schema.dkim import DkimAlgorithm

RSA, ED25519 = DkimAlgorithm.RSA_SHA256, DkimAlgorithm.ED25519_SHA256
HEADERS = [("Received", b"from somewhere"), ("From", b"Alice <alice@example.net>"),
           ("To", b"bob@example.org,\n\tcarol@example.org"), ("Subject", b"Hello"),
           ("X-Mailer", b"test"), ("Content-Type", b"text/plain; charset=us-ascii")]
BODY = b"Hello  there \r\n\r\nbye\r\n\r\n\r\n"


class StaticKeys:
    """The keys a domain would have in the database (the query is tested with it)."""

    def __init__(self, keys=(), error=None):
        self.keys, self.error, self.asked = tuple(keys), error, []

    def active_for(self, domain):
        self.asked.append(domain)
        if self.error:
            raise self.error
        return self.keys


@pytest.fixture(scope="module")
def rsa_key():
    private_pem, _ = new_key_material(RSA)
    return SigningKey("mb202611", RSA, signing_secret(RSA, private_pem))


@pytest.fixture(scope="module")
def ed25519_key():
    private_pem, _ = new_key_material(ED25519)
    return SigningKey("mb202611e", ED25519, signing_secret(ED25519, private_pem))


def message(headers=HEADERS, body=BODY, auth_user="alice@example.net", outcomes=()):
    spool = Spool(1 << 20)
    for name, value in headers:
        spool.write(name.encode() + b": " + value + b"\r\n")
    spool.write(b"\r\n")
    offset = spool.size
    spool.write(body)
    return Message(queue_id="4ABC", client=Client("192.0.2.1", "client.example",
                                                  auth_user=auth_user),
                   sender="alice@example.net", recipients=["bob@example.org"],
                   headers=list(headers), spool=spool, body_offset=offset,
                   outcomes=list(outcomes))


def relaxed_body_hash(body: bytes) -> str:
    """RFC 6376 3.4.4, written out independently of dkimpy."""
    lines = [re.sub(rb"[ \t]+", b" ", line).rstrip(b" ")
             for line in body.replace(b"\r\n", b"\n").split(b"\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    canonical = b"".join(line + b"\r\n" for line in lines)
    return base64.b64encode(hashlib.sha256(canonical).digest()).decode()


def tags(action):
    assert isinstance(action, AddHeader) and action.name == "DKIM-Signature"
    assert action.prepend and "\r" not in action.value
    return {name.decode(): value.decode()
            for name, value in parse_tag_value(action.value.encode()).items()}


def test_unauthenticated_mail_is_left_alone(rsa_key):
    keys = StaticKeys([rsa_key])
    outcome = DkimSignStage(None, keys).run(message(auth_user=None))
    assert outcome == Outcome("dkim_sign", "none", "not authenticated")
    assert keys.asked == []


def test_a_from_domain_without_an_active_key_is_left_alone():
    keys = StaticKeys()
    outcome = DkimSignStage(None, keys).run(message())
    assert (outcome.verdict, outcome.reason, outcome.actions) == (
        "none", "no active key for example.net", ())
    assert keys.asked == ["example.net"]


def test_signed_with_rsa_relaxed_over_the_present_headers_and_from_twice(rsa_key):
    outcome = DkimSignStage(None, StaticKeys([rsa_key])).run(message())
    assert (outcome.verdict, outcome.reason) == ("signed",
                                                 "d=example.net s=mb202611 a=rsa-sha256")
    assert outcome.refusal is None and len(outcome.actions) == 1
    signature = tags(outcome.actions[0])
    assert (signature["a"], signature["c"], signature["d"], signature["s"]) == (
        "rsa-sha256", "relaxed/relaxed", "example.net", "mb202611")
    assert [name.strip() for name in signature["h"].split(":")] == [
        "from", "to", "subject", "content-type", "from"]
    assert signature["bh"] == relaxed_body_hash(BODY)


def test_each_active_algorithm_signs(rsa_key, ed25519_key):
    outcome = DkimSignStage(None, StaticKeys([rsa_key, ed25519_key])).run(message())
    assert [tags(action)["a"] for action in outcome.actions] == ["rsa-sha256",
                                                                 "ed25519-sha256"]
    assert outcome.reason == "d=example.net s=mb202611 a=rsa-sha256 s=mb202611e a=ed25519-sha256"


def test_a_key_that_cannot_be_read_is_a_451_not_an_unsigned_message():
    keys = StaticKeys(error=ValueError("Could not deserialize key data"))
    outcome = DkimSignStage(None, keys).run(message())
    assert outcome.verdict == "tempfail" and outcome.actions == ()
    assert (outcome.refusal.code, outcome.refusal.status) == ("451", "4.7.1")
    assert "not signed for example.net: Could not deserialize" in outcome.reason


def test_a_key_dkimpy_refuses_is_a_451_too():
    broken = SigningKey("mb202611", RSA, b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END "
                                         b"RSA PRIVATE KEY-----\n")
    outcome = DkimSignStage(None, StaticKeys([broken])).run(message())
    assert outcome.verdict == "tempfail" and outcome.refusal.code == "451"


def test_the_body_an_earlier_stage_put_in_is_what_is_signed(rsa_key):
    notice = b"The attachment was removed:\nit had a virus.\n"
    virus = Outcome("virus", "infected", "removed", (
        DeleteHeader("Content-Type", 1), AddHeader("Content-Type", "text/plain; charset=utf-8"),
        ReplaceBody(lambda: iter([notice]))))
    signed = message(outcomes=[Outcome("size", "pass"), virus])
    assert delivered_body(signed) == notice.replace(b"\n", b"\r\n")
    outcome = DkimSignStage(None, StaticKeys([rsa_key])).run(signed)
    assert tags(outcome.actions[0])["bh"] == relaxed_body_hash(notice)


def test_the_headers_as_the_earlier_stages_leave_them():
    headers = [("X-Spam-Flag", b"YES"), ("From", b"a@example.net"), ("X-Spam-Flag", b"NO")]
    stages = [Outcome("spam", "ham", actions=(DeleteHeader("X-Spam-Flag", 2),
                                              AddHeader("X-Spam-Score", "0.1"))),
              Outcome("other", "x", actions=(AddHeader("A", "1", prepend=True),
                                             AddHeader("B", "2", prepend=True)))]
    assert delivered_headers(message(headers=headers, outcomes=stages)) == [
        ("B", b"2"), ("A", b"1"), ("X-Spam-Flag", b"YES"), ("From", b"a@example.net"),
        ("X-Spam-Score", b"0.1")]


def test_a_body_as_received_is_read_from_the_spool_with_crlf_line_ends():
    assert delivered_body(message(body=b"one\ntwo\r\n")) == b"one\r\ntwo\r\n"


@pytest.mark.parametrize("from_values", [[], [b"a@example.net", b"b@example.net"],
                                         [b"a@example.net, b@example.net"],
                                         [b"undisclosed"]])
def test_without_one_from_address_nothing_is_signed(rsa_key, from_values):
    headers = [("From", value) for value in from_values] + [("Subject", b"x")]
    keys = StaticKeys([rsa_key])
    outcome = DkimSignStage(None, keys).run(message(headers=headers))
    assert (outcome.verdict, outcome.actions, keys.asked) == ("none", (), [])
