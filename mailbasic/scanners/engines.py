"""The spam engines behind the milter's spam stage, chosen by spam.engine: SpamAssassin's
spamd or rspamd. Either answers a SpamReport or raises SpamdError."""

from __future__ import annotations

from typing import BinaryIO, Protocol

from mailbasic.config import Settings
from mailbasic.scanners.rspamd import Envelope, RspamdClient, to_report
from mailbasic.scanners.spamd import SpamdClient, SpamReport


class SpamEngine(Protocol):
    name: str

    def check(self, message: BinaryIO, length: int, user: str,
              envelope: Envelope) -> SpamReport: ...


class SpamdEngine:
    """spamd is told the per-user name (User:) only; it reads the rest from the message."""

    name = "spamd"

    def __init__(self, settings: Settings) -> None:
        self.client = SpamdClient(settings.spamd_host, settings.spamd_port,
                                  settings.spamd_timeout)

    def check(self, message: BinaryIO, length: int, user: str,
              envelope: Envelope) -> SpamReport:
        return self.client.check(message, length, user)


class RspamdEngine:
    """rspamd is told the envelope, the client and the login in request headers."""

    name = "rspamd"

    def __init__(self, settings: Settings) -> None:
        self.client = RspamdClient(settings.rspamd_host, settings.rspamd_port,
                                   settings.rspamd_timeout)

    def check(self, message: BinaryIO, length: int, user: str,
              envelope: Envelope) -> SpamReport:
        return to_report(self.client.check(message, length, envelope))


def spam_engine(settings: Settings) -> SpamEngine:
    if settings.spam_engine == "rspamd":
        return RspamdEngine(settings)
    return SpamdEngine(settings)
