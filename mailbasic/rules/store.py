"""Loads what the rules need for one recipient address, in one query, cached briefly.

A change made with the CLI takes effect within policy.cache_seconds, as for the policy
daemon. Filters are parsed and compiled once per load, not per message.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, text

from mailbasic.directory import TtlCache, retrying, split
from mailbasic.rules import sieve
from mailbasic.rules.decide import ForwardRule, RecipientRules, VacationRule
from mailbasic.rules.evaluate import compile_script

_RULES = text("""
SELECT m.id, lower(p.local_part || '@' || pd.name),
       COALESCE(r.spam_filter_enabled, true), COALESCE(r.spam_threshold, 5.0),
       COALESCE(r.spam_action::text, 'tag'), COALESCE(r.filters, ''),
       f.target, f.keep_copy,
       v.first_day, v.last_day, v.subject, v.body, v.interval_days,
       ARRAY(SELECT lower(a2.local_part || '@' || d2.name) FROM addresses a2
             JOIN domains d2 ON d2.id = a2.domain_id WHERE a2.mailbox_id = m.id),
       ARRAY(SELECT s.list::text || ' ' || lower(s.sender::text)
             FROM sender_list_entries s WHERE s.mailbox_id = m.id)
FROM domains d
LEFT JOIN addresses a ON a.domain_id = d.id AND a.local_part = :local_part
JOIN mailboxes m ON m.id = COALESCE(a.mailbox_id, d.catch_all_mailbox_id)
JOIN addresses p ON p.mailbox_id = m.id AND p.is_primary
JOIN domains pd ON pd.id = p.domain_id
LEFT JOIN mailbox_rules r ON r.mailbox_id = m.id
LEFT JOIN forwards f ON f.address_id = a.id
LEFT JOIN vacations v ON v.mailbox_id = m.id
WHERE d.name = :domain
""")

# Atomic: of two messages from one sender at the same moment, only one gets a reply.
_CLAIM_REPLY = text("""
INSERT INTO vacation_replies (mailbox_id, sender, replied_at)
VALUES (:mailbox_id, :sender, now())
ON CONFLICT (mailbox_id, sender) DO UPDATE SET replied_at = now()
WHERE vacation_replies.replied_at < now() - :interval
RETURNING 1
""")


class RulesStore:
    def __init__(self, engine: Engine, cache_seconds: float) -> None:
        self.engine = engine
        self.cache: TtlCache[RecipientRules | None] = TtlCache(cache_seconds)

    def rules_for(self, address: str) -> RecipientRules | None:
        """None when the address reaches no mailbox here (an outside recipient)."""
        address = address.lower()
        return self.cache.get(address, lambda: self._load(address))

    @retrying
    def claim_vacation_reply(self, mailbox_id: int, sender: str, interval_days: int) -> bool:
        """True when no reply went to this sender within the interval; records this one."""
        with self.engine.connect() as connection:
            row = connection.execute(_CLAIM_REPLY, {
                "mailbox_id": mailbox_id, "sender": sender.lower(),
                "interval": timedelta(days=interval_days)}).first()
            connection.commit()
        return row is not None

    @retrying
    def _load(self, address: str) -> RecipientRules | None:
        local_part, domain = split(address)
        local_part = local_part.split("+", 1)[0]  # login+detail reaches login
        with self.engine.connect() as connection:
            row = connection.execute(_RULES, {"local_part": local_part,
                                              "domain": domain}).first()
        if row is None:
            return None
        lists = [entry.split(" ", 1) for entry in row[14]]
        return RecipientRules(
            mailbox_id=row[0], login=row[1], addresses=frozenset(row[13]),
            spam_enabled=row[2], spam_threshold=float(row[3]), spam_action=row[4],
            filters=compile_script(sieve.parse(row[5])) if row[5].strip() else None,
            forward=ForwardRule(row[6], row[7]) if row[6] else None,
            vacation=VacationRule(row[8], row[9], row[10], row[11], row[12])
            if row[8] else None,
            whitelist=frozenset(sender for kind, sender in lists if kind == "whitelist"),
            blacklist=frozenset(sender for kind, sender in lists if kind == "blacklist"))
