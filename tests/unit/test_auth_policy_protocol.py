"""Dovecot 2.3's authentication policy protocol: the requests as auth-policy.c builds them
from our auth_policy_request_attributes (keys sorted, every value quoted, "tls" appended;
"success" and "policy_reject" in a report), and the answers it parses."""

from __future__ import annotations

import json

import pytest

from mailbasic.auth_policy.protocol import (
    MAX_BODY,
    PolicyRequest,
    ProtocolError,
    answer,
    parse_request,
)

# Byte for byte what Dovecot 2.3.19.1 POSTs for an IMAP login (auth_policy_create_json).
ALLOW = (b'{"login":"alice@example.net","protocol":"imap","pwhash":"9f3a61c2",'
         b'"remote":"192.0.2.7","session_id":"Jx1Gx5cF0sB/AAAB","tls":true}')
REPORT = (b'{"login":"alice@example.net","protocol":"smtp","pwhash":"0c17e4d9",'
          b'"remote":"2001:db8::7","session_id":"","success":false,"policy_reject":false,'
          b'"tls":true}')


def test_an_allow_request():
    assert parse_request("command=allow", ALLOW) == PolicyRequest(
        "allow", "alice@example.net", "192.0.2.7", "imap", "Jx1Gx5cF0sB/AAAB", "9f3a61c2")


def test_a_report_request():
    request = parse_request("command=report", REPORT)
    assert (request.command, request.protocol, request.remote) == (
        "report", "smtp", "2001:db8::7")
    assert (request.success, request.policy_reject, request.session) == (False, False, "")
    refused = parse_request("command=report", REPORT.replace(
        b'"policy_reject":false', b'"policy_reject":true'))
    assert refused.policy_reject


def test_missing_attributes_are_empty():
    # A login without a client address (doveadm auth test) or a login name yet.
    assert parse_request("command=allow", b'{"tls":false}') == PolicyRequest(
        "allow", "", "", "", "", "")


def test_dovecot_escapes_values_as_json():
    body = json.dumps({"login": 'o"brien\\@example.net', "remote": "192.0.2.7"}).encode()
    assert parse_request("command=allow", body).login == 'o"brien\\@example.net'


@pytest.mark.parametrize(("query", "body", "error"), [
    ("", ALLOW, "no command=allow or command=report"),
    ("command=deny", ALLOW, "no command=allow or command=report"),
    ("command=allow&command=report", ALLOW, "no command=allow or command=report"),
    ("command=allow", b"{not json", "not JSON"),
    ("command=allow", b"\xff\xfe", "not JSON"),
    ("command=allow", b'["login"]', "not a JSON object"),
    ("command=allow", b'{"login": 7}', "login is not a string"),
    ("command=allow", b'{"login": "a\\nb"}', "login is not one short printable line"),
    ("command=allow", b'{"remote": "' + b"1" * 600 + b'"}',
     "remote is not one short printable line"),
    ("command=report", ALLOW, "a report without a boolean success"),
    ("command=report", b'{"success": "yes", "policy_reject": false}',
     "a report without a boolean success"),
    ("command=allow", b"{" + b" " * MAX_BODY + b"}", "request body over"),
])
def test_anything_else_is_a_protocol_error(query, body, error):
    with pytest.raises(ProtocolError, match=error.replace("\\", "\\\\")):
        parse_request(query, body)


def test_answers_as_dovecot_parses_them():
    assert json.loads(answer(-1, "Too many failed logins")) == {
        "status": -1, "msg": "Too many failed logins"}
    assert json.loads(answer(4)) == {"status": 4, "msg": ""}
    assert answer(0) == b'{"status": 0, "msg": ""}'
