"""The SMS gateway client against a real HTTP server on loopback, and the SMS text."""

from __future__ import annotations

import base64
import json
import socket
import urllib.parse
from collections.abc import Iterator

import pytest

from mailbasic.sms.gateway import GatewayConfig, Outcome, send, sms_text
from tests.http_gateway import Gateway, running_gateway


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with running_gateway() as server:
        yield server


def test_sent_as_json_with_basic_authentication(gateway: Gateway) -> None:
    config = GatewayConfig(gateway.url, "provider", "s3cret")
    delivery = send(config, "+4930123456", 'From "Anna": a "quoted" subject \\ ü')
    assert delivery.outcome is Outcome.SENT and delivery.detail == "HTTP 200"
    headers, body = gateway.requests[0]
    assert json.loads(body) == {"to": "+4930123456",
                                "text": 'From "Anna": a "quoted" subject \\ ü'}
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"provider:s3cret").decode()


def test_form_encoding_escapes_the_separators(gateway: Gateway) -> None:
    config = GatewayConfig(gateway.url, body_template="number=$to&message=$text&key=k",
                           content_type="application/x-www-form-urlencoded")
    assert send(config, "+491701234", "a&b=c d").outcome is Outcome.SENT
    headers, body = gateway.requests[0]
    assert urllib.parse.parse_qs(body.decode()) == {
        "number": ["+491701234"], "message": ["a&b=c d"], "key": ["k"]}
    assert "Authorization" not in headers


@pytest.mark.parametrize("status, outcome", [
    (503, Outcome.RETRY), (500, Outcome.RETRY), (429, Outcome.RETRY),
    (400, Outcome.REJECTED), (401, Outcome.REJECTED), (404, Outcome.REJECTED)])
def test_errors_are_temporary_or_permanent(gateway: Gateway, status: int,
                                           outcome: Outcome) -> None:
    gateway.answers.append((status, {}, 0.0))
    delivery = send(GatewayConfig(gateway.url), "+4930123456", "text")
    assert delivery.outcome is outcome
    assert delivery.detail.startswith(f"HTTP {status}")


def test_a_redirect_is_not_followed(gateway: Gateway) -> None:
    gateway.answers.append((302, {"Location": gateway.url + "/elsewhere"}, 0.0))
    delivery = send(GatewayConfig(gateway.url), "+4930123456", "text")
    assert delivery.outcome is Outcome.REJECTED and delivery.detail.startswith("HTTP 302")
    assert len(gateway.requests) == 1


def test_a_slow_gateway_times_out(gateway: Gateway) -> None:
    gateway.answers.append((200, {}, 5.0))
    delivery = send(GatewayConfig(gateway.url, timeout=0.3), "+4930123456", "text")
    assert delivery.outcome is Outcome.RETRY
    assert delivery.detail == "timed out after 0.3 s"


def test_a_closed_port_is_retried_later() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    delivery = send(GatewayConfig(f"http://127.0.0.1:{port}/"), "+4930123456", "text")
    assert delivery.outcome is Outcome.RETRY
    assert delivery.detail.startswith("no connection:")


def test_sms_text_is_one_line_cut_to_160_characters() -> None:
    assert sms_text("Anna Muster", "Invoice\r\n 42") == "From Anna Muster: Invoice 42"
    long = sms_text("bob@example.org", "x" * 400)
    assert len(long) == 160 and long.endswith("…")
    assert sms_text("eve", "bell\x07 and\ttab") == "From eve: bell and tab"
