import io

import pytest

from mailbasic.policy.protocol import ProtocolError, answer, read_request
from mailbasic.policy.request import PolicyRequest


def test_values_keep_their_equals_signs_and_requests_follow_each_other():
    stream = io.BytesIO(b"request=smtpd_access_policy\nsender=a=b@example.org\n\n"
                        b"request=smtpd_access_policy\nrecipient=c@example.net\n\n")
    assert read_request(stream) == {"request": "smtpd_access_policy",
                                    "sender": "a=b@example.org"}
    assert read_request(stream)["recipient"] == "c@example.net"
    assert read_request(stream) is None


@pytest.mark.parametrize("raw, message", [
    (b"request=smtpd_access_policy\nrecipient=x", "not terminated"),
    (b"request=smtpd_access_policy\n", "closed in the middle"),
    (b"request=other\n\n", "not a policy request"),
    (b"request=smtpd_access_policy\nnoequals\n\n", "not a name=value"),
    (b"request=smtpd_access_policy\n=value\n\n", "not a name=value"),
    (b"request=smtpd_access_policy\nx=\xff\n\n", "undecodable"),
    (b"request=smtpd_access_policy\n" + b"a=b\n" * 100 + b"\n", "too many"),
    (b"\n", "empty request"),
])
def test_malformed_requests(raw, message):
    with pytest.raises(ProtocolError, match=message):
        read_request(io.BytesIO(raw))


def test_answer_is_one_line():
    assert answer("DUNNO") == b"action=DUNNO\n\n"
    with pytest.raises(ValueError):
        answer("550 x\naction=OK")


def test_request_fields_are_normalised():
    request = PolicyRequest.from_attributes({
        "protocol_state": "RCPT", "sender": "A@Example.ORG", "recipient": "B@Example.NET",
        "size": "123", "client_name": "mx", "client_address": "192.0.2.1"})
    assert (request.sender, request.recipient, request.size) == ("a@example.org",
                                                                  "b@example.net", 123)
    assert request.queue_id == "NOQUEUE" and request.client == "mx[192.0.2.1]"
    assert PolicyRequest.from_attributes({"size": "-5"}).size is None
