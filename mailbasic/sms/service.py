"""SMS settings of mailboxes (phone, on/off, rules) and the outbox, for the CLI."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbasic.accounts import get_mailbox
from mailbasic.errors import N_, AlreadyExists, InvalidInput, NotFound
from mailbasic.schema import Mailbox, OutboxState, SmsOutbox, SmsRule, SmsRuleKind, SmsSettings
from mailbasic.schema.rules import SENDER_PATTERN
from mailbasic.schema.sms import PHONE_PATTERN
from mailbasic.sms import store
from mailbasic.sms.gateway import sms_text
from mailbasic.sms.notification import QueueNotification
from mailbasic.sms.rules import wants_fax_notice


def normalize_phone(phone: str) -> str:
    """"+49 170 123-4567" -> "+491701234567"."""
    compact = re.sub(r"[\s()./-]", "", phone)
    if not re.match(PHONE_PATTERN, compact):
        raise InvalidInput(N_("not a phone number: {phone!r} (6 to 20 digits, + in front for the "
                              "international form)"), phone=phone)
    return compact


def set_phone(session: Session, mailbox_name: str, phone: str | None,
              enabled: bool | None) -> SmsSettings:
    mailbox = get_mailbox(session, mailbox_name)
    settings = session.get(SmsSettings, mailbox.id, with_for_update=True)
    if settings is None:
        if phone is None:
            raise InvalidInput(N_("{mailbox} has no phone number for SMS yet: give --phone"),
                               mailbox=mailbox_name)
        settings = SmsSettings(mailbox_id=mailbox.id, enabled=True)
        session.add(settings)
    if phone is not None:
        settings.phone = normalize_phone(phone)
    if enabled is not None:
        settings.enabled = enabled
    session.flush()
    return settings


def add_rule(session: Session, mailbox_name: str, kind: SmsRuleKind,
             value: str | None) -> SmsRule:
    mailbox = get_mailbox(session, mailbox_name)
    value = _rule_value(kind, value)
    duplicate = session.scalar(select(SmsRule).where(
        SmsRule.mailbox_id == mailbox.id, SmsRule.kind == kind,
        SmsRule.value.is_(None) if value is None else SmsRule.value == value))
    if duplicate is not None:
        raise AlreadyExists(N_("{mailbox} already has that SMS rule ({rule})"),
                            mailbox=mailbox_name, rule=duplicate.id)
    rule = SmsRule(mailbox_id=mailbox.id, kind=kind, value=value)
    session.add(rule)
    session.flush()
    return rule


def _rule_value(kind: SmsRuleKind, value: str | None) -> str | None:
    if kind in (SmsRuleKind.FAX, SmsRuleKind.HIGH_PRIORITY):
        if value is not None:
            raise InvalidInput(N_("an SMS rule for {kind} takes no value"), kind=kind.value)
        return None
    value = (value or "").strip()
    if kind is SmsRuleKind.SENDER:
        value = value.lower()
        if not re.match(SENDER_PATTERN, value):
            raise InvalidInput(N_("{sender!r} is neither an address (name@domain) nor @domain"),
                               sender=value)
    if not 1 <= len(value) <= 200 or not value.isprintable():
        raise InvalidInput(N_("a subject keyword is 1 to 200 printable characters"))
    return value


def remove_rule(session: Session, mailbox_name: str, rule_id: int) -> None:
    mailbox = get_mailbox(session, mailbox_name)
    rule = session.get(SmsRule, rule_id)
    if rule is None or rule.mailbox_id != mailbox.id:
        raise NotFound(N_("{mailbox} has no SMS rule {rule}"), mailbox=mailbox_name, rule=rule_id)
    session.delete(rule)


def describe(session: Session, mailbox_name: str) -> dict[str, Any]:
    mailbox = get_mailbox(session, mailbox_name)
    settings = session.get(SmsSettings, mailbox.id)
    rules = session.scalars(select(SmsRule).where(SmsRule.mailbox_id == mailbox.id)
                            .order_by(SmsRule.id))
    return {"mailbox": mailbox.name,
            "phone": settings.phone if settings else None,
            "enabled": bool(settings and settings.enabled),
            "rules": [{"id": rule.id, "kind": rule.kind.value, "value": rule.value}
                      for rule in rules]}


def outbox(session: Session, mailbox_name: str | None, state: OutboxState | None,
           limit: int) -> list[dict[str, Any]]:
    query = (select(SmsOutbox, Mailbox).join(Mailbox, Mailbox.id == SmsOutbox.mailbox_id)
             .order_by(SmsOutbox.id.desc()).limit(limit))
    if mailbox_name is not None:
        query = query.where(SmsOutbox.mailbox_id == get_mailbox(session, mailbox_name).id)
    if state is not None:
        query = query.where(SmsOutbox.state == state)
    return [{"id": entry.id, "mailbox": mailbox.name, "phone": entry.phone, "text": entry.text,
             "reason": entry.reason, "state": entry.state.value, "attempts": entry.attempts,
             "queued_at": entry.queued_at.isoformat(),
             "sent_at": entry.sent_at.isoformat() if entry.sent_at else None,
             "last_error": entry.last_error}
            for entry, mailbox in session.execute(query)]


def queue_fax_notice(session: Session, mailbox_name: str, caller: str, subject: str) -> bool:
    """An SMS for a fax that arrived, when the mailbox has a fax rule."""
    profile = store.profile_of_mailbox(session.connection(),
                                       get_mailbox(session, mailbox_name).id)
    if profile is None or not wants_fax_notice(profile):
        return False
    store.queue(session.connection(), [QueueNotification(
        profile.mailbox_id, profile.phone, sms_text(caller, subject), "fax")])
    return True
