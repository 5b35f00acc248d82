"""Which messages a mailbox wants an SMS for: decision code only, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbasic.rules.decide import listed
from mailbasic.schema.sms import SmsRuleKind

_HIGH_PRIORITY = {"x-priority": re.compile(r"^\s*[12]\b"),
                  "importance": re.compile(r"^\s*high\b", re.IGNORECASE),
                  "priority": re.compile(r"^\s*urgent\b", re.IGNORECASE)}


@dataclass(frozen=True)
class SmsProfile:
    mailbox_id: int
    phone: str
    rules: tuple[tuple[SmsRuleKind, str | None], ...]


@dataclass(frozen=True)
class Arrival:
    """What the rules look at: the envelope sender and From: addresses (lower case), the
    subject, and the headers by lower-case name."""
    senders: tuple[str, ...]
    subject: str
    headers: tuple[tuple[str, str], ...]

    def high_priority(self) -> bool:
        return any(pattern.match(value) for name, value in self.headers
                   if (pattern := _HIGH_PRIORITY.get(name.lower())))


def matching_rule(profile: SmsProfile, arrival: Arrival) -> str | None:
    """Why this message deserves an SMS (the first rule that matches), or None."""
    for kind, value in profile.rules:
        # value is None only for the kinds that take none (a check constraint).
        if (kind is SmsRuleKind.SENDER and value is not None
                and listed(list(arrival.senders), frozenset([value]))):
            return f"sender {value}"
        if (kind is SmsRuleKind.SUBJECT and value is not None
                and value.casefold() in arrival.subject.casefold()):
            return f"subject contains {value!r}"
        if kind is SmsRuleKind.HIGH_PRIORITY and arrival.high_priority():
            return "high priority"
    return None


def wants_fax_notice(profile: SmsProfile) -> bool:
    return any(kind is SmsRuleKind.FAX for kind, _ in profile.rules)
