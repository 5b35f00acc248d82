"""A mailbox's latest messages as Dovecot stores them, for the filters' dry run: read
through doveadm's HTTP API (doveadm.DoveadmApi), since the portal does not run as root.

The stored message is what the mailbox received, with the headers the milter added on
arrival (X-Spam-Score among them), so the dry run judges the very message the filters
saw. Mail that was discarded or only forwarded is not there, and neither is mail the
customer has deleted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header

from mailbasic.config import Settings
from mailbasic.doveadm import DoveadmApi, DoveadmError

LATEST_DAYS = 30
LATEST_COUNT = 10
_REFERENCE = re.compile(r"^([0-9a-f]{32}):([0-9]{1,10})$")


class MailUnreadable(Exception):
    """The mailbox cannot be read now (no API configured, or Dovecot did not answer)."""


@dataclass(frozen=True)
class StoredMessage:
    folder: str
    reference: str          # "MAILBOX-GUID:UID", what the page links to
    saved_at: datetime
    sender: str             # the From: header, decoded
    subject: str


@dataclass(frozen=True)
class StoredMail:
    api: DoveadmApi

    @classmethod
    def of(cls, settings: Settings) -> StoredMail | None:
        if not (settings.doveadm_api_url and settings.doveadm_api_key):
            return None
        return cls(DoveadmApi(settings.doveadm_api_url, settings.doveadm_api_key))

    def latest(self, user: str) -> list[StoredMessage]:
        """The newest messages of the last LATEST_DAYS days in any folder, newest first."""
        rows = self._call("fetch", user=user, field=[
            "mailbox", "mailbox-guid", "uid", "date.saved.unixtime", "hdr.from",
            "hdr.subject"], query=["savedsince", f"{LATEST_DAYS}d"])
        messages = [_stored(row) for row in rows]
        messages.sort(key=lambda message: message.saved_at, reverse=True)
        return messages[:LATEST_COUNT]

    def whole(self, user: str, reference: str) -> bytes | None:
        """The message itself, or None when the reference names no message of `user`."""
        found = _REFERENCE.match(reference)
        if not found:
            return None
        rows = self._call("fetch", user=user, field=["text"],
                          query=["mailbox-guid", found.group(1), "uid", found.group(2)])
        if not rows:
            return None
        return rows[0].get("text", "").encode("utf-8", "surrogateescape")

    def _call(self, command: str, **parameters: object) -> list[dict[str, str]]:
        try:
            return self.api.call(command, **parameters)
        except DoveadmError as error:
            raise MailUnreadable(str(error)) from None


def _stored(row: dict[str, str]) -> StoredMessage:
    saved = int(row.get("date.saved.unixtime") or 0)
    return StoredMessage(folder=row.get("mailbox", ""),
                         reference=f"{row.get('mailbox-guid', '')}:{row.get('uid', '')}",
                         saved_at=datetime.fromtimestamp(saved, UTC),
                         sender=_decoded(row.get("hdr.from", "")),
                         subject=_decoded(row.get("hdr.subject", "")))


def _decoded(value: str) -> str:
    """A header as a person reads it (RFC 2047 words decoded); left raw if malformed."""
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError):
        return value
