"""The milter's and the fax hook's view of a mailbox's SMS settings, and the outbox."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, Row, insert, text

from mailbasic.directory import TtlCache, retrying
from mailbasic.rules.store import split
from mailbasic.schema.sms import SmsOutbox, SmsRuleKind
from mailbasic.sms.notification import QueueNotification
from mailbasic.sms.rules import SmsProfile

_PROFILE = text("""
SELECT m.id, s.phone,
       ARRAY(SELECT r.kind::text || ' ' || COALESCE(r.value, '') FROM sms_rules r
             WHERE r.mailbox_id = m.id ORDER BY r.id)
FROM domains d
LEFT JOIN addresses a ON a.domain_id = d.id AND a.local_part = :local_part
JOIN mailboxes m ON m.id = COALESCE(a.mailbox_id, d.catch_all_mailbox_id)
JOIN sms_settings s ON s.mailbox_id = m.id AND s.enabled
WHERE d.name = :domain
""")

_PROFILE_OF_MAILBOX = text("""
SELECT m.id, s.phone,
       ARRAY(SELECT r.kind::text || ' ' || COALESCE(r.value, '') FROM sms_rules r
             WHERE r.mailbox_id = m.id ORDER BY r.id)
FROM mailboxes m JOIN sms_settings s ON s.mailbox_id = m.id AND s.enabled
WHERE m.id = :mailbox_id
""")


def _profile(row: Row[int, str, list[str]] | None) -> SmsProfile | None:
    if row is None:
        return None
    rules: list[tuple[SmsRuleKind, str | None]] = []
    for entry in row[2]:
        kind, _, value = entry.partition(" ")
        rules.append((SmsRuleKind(kind), value or None))
    return SmsProfile(mailbox_id=row[0], phone=row[1], rules=tuple(rules))


class SmsStore:
    def __init__(self, engine: Engine, cache_seconds: float) -> None:
        self.engine = engine
        self.cache: TtlCache[SmsProfile | None] = TtlCache(cache_seconds)

    def profile_for(self, address: str) -> SmsProfile | None:
        """None when the address reaches no mailbox here, or its SMS are off."""
        return self.cache.get(address.lower(), lambda: self._load(address.lower()))

    @retrying
    def _load(self, address: str) -> SmsProfile | None:
        local_part, domain = split(address)
        with self.engine.connect() as connection:
            return _profile(connection.execute(_PROFILE, {
                "local_part": local_part.split("+", 1)[0], "domain": domain}).first())


def profile_of_mailbox(connection: Connection, mailbox_id: int) -> SmsProfile | None:
    return _profile(connection.execute(_PROFILE_OF_MAILBOX,
                                       {"mailbox_id": mailbox_id}).first())


def queue(connection: Connection, notifications: Iterable[QueueNotification]) -> None:
    rows = [{"mailbox_id": item.mailbox_id, "phone": item.phone, "text": item.text,
             "reason": item.reason} for item in notifications]
    if rows:
        connection.execute(insert(SmsOutbox), rows)
