"""Collected mail enters through the local Postfix's SMTP port, so the milter and the
policy daemon treat it like any incoming mail (virus, spam, the mailbox's rules).

The message comes from a file, streamed: a collection run holds no message in memory."""

from __future__ import annotations

import re
import smtplib
from email.utils import formatdate
from typing import BinaryIO

from mailbasic.collect.pop3 import CollectError

_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^<>\s@]+@[^<>\s@]+)>[ \t]*\r?$",
                          re.IGNORECASE | re.MULTILINE)
HEAD_LIMIT = 64 * 1024  # where Return-Path is looked for
CHUNK = 64 * 1024
_UNAVAILABLE = "the local mail server is unavailable; collection goes on at the next run"


class MessageRefused(Exception):
    """Postfix refused this one message for good (5xx); it stays on the POP3 server."""


def envelope_sender(head: bytes) -> str:
    """The original envelope sender where the POP3 server recorded one, else <>."""
    head = head.split(b"\r\n\r\n", 1)[0]
    match = _RETURN_PATH.search(head)
    return match.group(1).decode("ascii", "replace") if match else ""


class Injector:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> Injector:
        try:
            self.client = smtplib.SMTP(*self.address, timeout=self.timeout)
            self.client.ehlo("collect.mailbasic")
        except (OSError, smtplib.SMTPException):
            raise CollectError(_UNAVAILABLE) from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()

    def inject(self, message: BinaryIO, recipient: str, origin: str) -> None:
        """`message` as POP3 sent it (CRLF, dot-stuffed), which is what DATA takes."""
        message.seek(0)
        sender = envelope_sender(message.read(HEAD_LIMIT))
        trace = f"X-Mailbasic-Collected: from {origin}; {formatdate(usegmt=True)}\r\n"
        client = self._connected()
        try:
            self._expect((250,), *client.mail(sender))
            self._expect((250, 251), *client.rcpt(recipient))
            self._expect((354,), *client.docmd("DATA"))
            client.send(trace.encode())
            message.seek(0)
            while chunk := message.read(CHUNK):
                client.send(chunk)
            client.send(b".\r\n")
            self._expect((250,), *client.getreply())
        except (OSError, smtplib.SMTPException):
            raise CollectError(_UNAVAILABLE) from None

    def _connected(self) -> smtplib.SMTP:
        if self.client is None:
            raise RuntimeError("Injector.inject outside its with block: not connected")
        return self.client

    def _expect(self, codes: tuple[int, ...], code: int, text: bytes) -> None:
        if code in codes:
            return
        self._connected().rset()
        if 500 <= code < 600:
            # Postfix's refusal is written for senders: it may be shown.
            raise MessageRefused(f"{code} {text.decode('utf-8', 'replace')}")
        # Temporary: the rest waits for the next run, in order.
        raise CollectError(f"the local mail server deferred a message ({code}); "
                           f"collection goes on at the next run")
