"""What arrived in a mailbox, read over IMAP as its owner: how the end-to-end tests see
a delivered message (read-only; the \\Seen flag stays as it was)."""

from __future__ import annotations

import email
import email.message
import email.policy
import imaplib
import ssl
import time

import pytest

from mailbasic.devstack.layout import HOST

DELIVERY_TIMEOUT = 30


def newest(port: int, tls_context: ssl.SSLContext, login: str, password: str, folder: str,
           subject: str) -> email.message.EmailMessage | None:
    """The newest message in FOLDER whose subject contains SUBJECT; None if there is
    none, or no such folder."""
    with imaplib.IMAP4_SSL(HOST, port, ssl_context=tls_context) as client:
        client.login(login, password)
        status, _ = client.select(f'"{folder}"', readonly=True)
        if status != "OK":
            return None
        _, numbers = client.search("UTF-8", "SUBJECT", f'"{subject}"'.encode())
        if not numbers[0]:
            return None
        _, parts = client.fetch(numbers[0].split()[-1], "(BODY.PEEK[])")
        message = email.message_from_bytes(parts[0][1], policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        return message


def arrives(port: int, tls_context: ssl.SSLContext, login: str, password: str, folder: str,
            subject: str) -> email.message.EmailMessage:
    """Waits until that message is there, DELIVERY_TIMEOUT seconds at most."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        message = newest(port, tls_context, login, password, folder, subject)
        if message is not None:
            return message
        time.sleep(0.2)
    pytest.fail(f"{subject!r} did not arrive in {login}'s {folder} within "
                f"{DELIVERY_TIMEOUT}s")
