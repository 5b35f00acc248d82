"""The portal reads a mailbox's latest messages through the stack's real Dovecot, over
doveadm's HTTP API: its key is needed, an unknown user is an error, and a stored message
comes back whole with its decoded headers listed."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from mailbasic.doveadm import DoveadmApi, DoveadmError
from mailbasic.portal.stored_mail import StoredMail
from tests.conftest import Cli

MESSAGE = (b"Return-Path: <bob@remote.example>\r\nFrom: Bob <bob@remote.example>\r\n"
           b"To: {address}\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and an invoice\r\n\r\n"
           b"Hello\r\n")


@pytest.fixture
def stored(dovecot) -> StoredMail:
    settings = dovecot.portal_settings
    assert settings.doveadm_api_url and settings.doveadm_api_key
    found = StoredMail.of(settings)
    assert found is not None
    return found


@pytest.fixture
def user(dovecot, tmp_path) -> str:
    """A mailbox in the stack's own database, which the stack's Dovecot reads."""
    domain = f"api{uuid.uuid4().hex[:8]}.example"
    cli = Cli(replace(dovecot.settings, bcrypt_cost=4), tmp_path)
    cli.ok("domain", "add", domain)
    cli.ok("customer", "add", "reader", "--domain", domain, "--password-stdin",
           input="a mailbox secret\n")
    return f"reader@{domain}"


def test_a_stored_message_is_listed_and_read_whole(dovecot, stored, user):
    message = MESSAGE.replace(b"{address}", user.encode())
    dovecot.dovecot.doveadm("save", "-u", user, "-m", "INBOX", input=message.decode())
    [latest] = stored.latest(user)
    assert latest.folder == "INBOX"
    assert latest.sender == "Bob <bob@remote.example>"
    assert latest.subject == "Grüße and an invoice"
    # Dovecot keeps a Maildir message with bare line feeds.
    assert stored.whole(user, latest.reference) == message.replace(b"\r\n", b"\n")
    # A reference to no message of this user, or no reference at all, is nothing.
    assert stored.whole(user, latest.reference.split(":")[0] + ":999") is None
    assert stored.whole(user, "INBOX:1") is None


def test_an_unknown_user_is_an_error(stored):
    with pytest.raises(DoveadmError, match="error 67"):
        stored.api.call("fetch", user="nobody@nowhere.example", field=["uid"], query=["all"])


def test_the_api_wants_its_key(dovecot):
    api = DoveadmApi(str(dovecot.portal_settings.doveadm_api_url), "not the key")
    with pytest.raises(DoveadmError, match="HTTP 401"):
        api.call("fetch", user="nobody@nowhere.example", field=["uid"], query=["all"])
