"""Collected mail enters through the local Postfix's SMTP port, so the milter and the
policy daemon treat it like any incoming mail (virus, spam, the mailbox's rules)."""

from __future__ import annotations

import re
import smtplib
from email.utils import formatdate

from mailbasic.collect.pop3 import CollectError

_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^<>\s@]+@[^<>\s@]+)>[ \t]*\r?$",
                          re.IGNORECASE | re.MULTILINE)


class MessageRefused(Exception):
    """Postfix refused this one message for good (5xx); it stays on the POP3 server."""


def envelope_sender(raw: bytes) -> str:
    """The original envelope sender where the POP3 server recorded one, else <>."""
    head = raw.split(b"\r\n\r\n", 1)[0]
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
        except (OSError, smtplib.SMTPException) as error:
            raise CollectError(f"local SMTP server {self.address}: {error}") from None
        return self

    def __exit__(self, *exc_info) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()

    def inject(self, raw: bytes, recipient: str, origin: str) -> None:
        trace = (f"X-Mailbasic-Collected: from {origin}; {formatdate(usegmt=True)}\r\n")
        try:
            self.client.sendmail(envelope_sender(raw), [recipient], trace.encode() + raw)
        except smtplib.SMTPRecipientsRefused as error:
            self._refused(*error.recipients[recipient])
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            self._refused(error.smtp_code, error.smtp_error)
        except (OSError, smtplib.SMTPException) as error:
            raise CollectError(f"local SMTP server: {error}") from None

    def _refused(self, code: int, text: bytes) -> None:
        reply = f"{code} {text.decode('utf-8', 'replace')}"
        if 500 <= code < 600:
            raise MessageRefused(reply)
        # Temporary: the rest waits for the next run, in order.
        raise CollectError(f"local SMTP server deferred: {reply}")
