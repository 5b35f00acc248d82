"""The service layer for per-mailbox rules: the CLI (and later the portal) changes them
only through these functions, inside the caller's transaction.

Filters are stored as canonical Sieve (sieve.render), so what `rules filter export`
prints is exactly what the milter runs. Saving filters also records the folders they
file into (delivery_folders), which is how Dovecot learns the folder of each token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from mailbasic.accounts import find_address, get_mailbox
from mailbasic.errors import N_, InvalidInput, NotAllowed, NotFound
from mailbasic.rules import sieve
from mailbasic.rules.decide import RecipientRules
from mailbasic.rules.folders import check_folder_name
from mailbasic.rules.loops import LoopTokens
from mailbasic.rules.model import Command, FileInto, If, Notify, Redirect, Script
from mailbasic.rules.recipient import MessageView, decide_for
from mailbasic.schema import (
    DeliveryFolder,
    Forward,
    Mailbox,
    MailboxRules,
    SenderList,
    SenderListEntry,
    SpamAction,
    Vacation,
)
from mailbasic.schema.rules import ADDRESS_PATTERN, MAX_FILTER_SCRIPT, SENDER_PATTERN

MAX_FILTER_REDIRECTS = 4


def rules_of(session: Session, mailbox: Mailbox) -> MailboxRules:
    """The mailbox's row, created with the defaults on first change."""
    rules = session.get(MailboxRules, mailbox.id)
    if rules is None:
        rules = MailboxRules(mailbox_id=mailbox.id, spam_filter_enabled=True,
                             spam_threshold=Decimal("5.0"), spam_action=SpamAction.TAG,
                             filters="")
        session.add(rules)
        session.flush()
    return rules


# --- spam ----------------------------------------------------------------------------

def set_spam(session: Session, mailbox_name: str, *, enabled: bool | None = None,
             threshold: float | None = None, action: str | None = None) -> MailboxRules:
    mailbox = get_mailbox(session, mailbox_name)
    rules = rules_of(session, mailbox)
    if enabled is not None:
        rules.spam_filter_enabled = enabled
    if threshold is not None:
        if not -100 <= threshold <= 100:
            raise InvalidInput(N_("spam threshold {threshold} must be from -100 to 100"),
                               threshold=threshold)
        rules.spam_threshold = Decimal(str(round(threshold, 1)))
    if action is not None:
        rules.spam_action = _spam_action(action)  # "Spam" is always a delivery folder
    session.flush()
    return rules


def _spam_action(action: str) -> SpamAction:
    try:
        return SpamAction(action)
    except ValueError:
        raise InvalidInput(N_("spam action {action!r}: choose tag, folder or delete"),
                           action=action) from None


def list_senders(session: Session, mailbox_name: str) -> list[SenderListEntry]:
    mailbox = get_mailbox(session, mailbox_name)
    return list(session.scalars(select(SenderListEntry).where(
        SenderListEntry.mailbox_id == mailbox.id).order_by(SenderListEntry.list,
                                                           SenderListEntry.sender)))


def add_sender(session: Session, mailbox_name: str, which: str, sender: str) -> SenderListEntry:
    """Put an address or a whole @domain on the mailbox's whitelist or blacklist. A sender
    on the other list moves: one sender, one verdict."""
    mailbox = get_mailbox(session, mailbox_name)
    sender = sender.strip().lower()
    if not re.match(SENDER_PATTERN, sender):
        raise InvalidInput(N_("{sender!r} is neither an address (name@domain) nor @domain"),
                           sender=sender)
    entry = session.scalar(select(SenderListEntry).where(
        SenderListEntry.mailbox_id == mailbox.id, SenderListEntry.sender == sender))
    if entry is None:
        entry = SenderListEntry(mailbox_id=mailbox.id, sender=sender)
        session.add(entry)
    entry.list = SenderList(which)
    session.flush()
    return entry


def remove_sender(session: Session, mailbox_name: str, sender: str) -> None:
    mailbox = get_mailbox(session, mailbox_name)
    removed = session.execute(delete(SenderListEntry).where(
        SenderListEntry.mailbox_id == mailbox.id,
        SenderListEntry.sender == sender.strip().lower()))
    if cast(CursorResult[Any], removed).rowcount == 0:  # a DML statement's result
        raise NotFound(N_("{sender} is on no list of {mailbox}"), sender=sender,
                       mailbox=mailbox_name)


# --- filters -------------------------------------------------------------------------

def set_filters(session: Session, mailbox_name: str, text: str) -> Script:
    """Replace the mailbox's filters with a Sieve script (refused with its line number
    when it uses what mailbasic does not support)."""
    script = sieve.parse(text)
    mailbox = get_mailbox(session, mailbox_name)
    canonical = sieve.render(script) if script.commands else ""
    if len(canonical) > MAX_FILTER_SCRIPT:
        raise InvalidInput(N_("the filters are too long ({length} characters, at most {limit})"),
                           length=len(canonical), limit=MAX_FILTER_SCRIPT)
    folders = [check_folder_name(action.folder) for action in _actions(script.commands)
               if isinstance(action, FileInto)]
    redirects = {action.address for action in _actions(script.commands)
                 if isinstance(action, Redirect)}
    if len(redirects) > MAX_FILTER_REDIRECTS:
        raise NotAllowed(N_("the filters redirect to {count} addresses; at most {limit}"),
                         count=len(redirects), limit=MAX_FILTER_REDIRECTS)
    # Each notification is a mail to an address of the customer's choosing, as a redirect.
    notified = {action.address.lower() for action in _actions(script.commands)
                if isinstance(action, Notify)}
    if len(notified) > MAX_FILTER_REDIRECTS:
        raise NotAllowed(N_("the filters notify {count} addresses; at most {limit}"),
                         count=len(notified), limit=MAX_FILTER_REDIRECTS)
    rules_of(session, mailbox).filters = canonical
    _record_folders(session, mailbox, folders)
    session.flush()
    return script


def add_filter(session: Session, mailbox_name: str, rule: If) -> Script:
    current = filters_of(session, mailbox_name)
    return set_filters(session, mailbox_name,
                       sieve.render(replace(current, commands=current.commands + (rule,))))


def filters_of(session: Session, mailbox_name: str) -> Script:
    rules = session.get(MailboxRules, get_mailbox(session, mailbox_name).id)
    return sieve.parse(rules.filters) if rules and rules.filters else Script()


def _actions(commands: Iterable[Command]) -> Iterator[Command]:
    for command in commands:
        if isinstance(command, If):
            for _, block in command.branches:
                yield from _actions(block)
            yield from _actions(command.otherwise or ())
        else:
            yield command


def _record_folders(session: Session, mailbox: Mailbox, names: list[str]) -> None:
    """Folders are only ever added: mail filed under an old rule must still find its
    folder while the milter's cache (policy.cache_seconds) holds that rule."""
    known = set(session.scalars(select(DeliveryFolder.name).where(
        DeliveryFolder.mailbox_id == mailbox.id)))
    for name in dict.fromkeys(names):
        if name not in known:
            session.add(DeliveryFolder(mailbox_id=mailbox.id, name=name))


# --- forwarding ----------------------------------------------------------------------

def set_forward(session: Session, address: str, target: str, keep_copy: bool) -> Forward:
    found = find_address(session, address)
    target = target.strip().lower()
    if not re.match(ADDRESS_PATTERN, target):
        raise InvalidInput(N_("{target!r} is not an e-mail address (name@domain)"), target=target)
    own = {other.email.lower() for other in found.mailbox.addresses}
    if target in own:
        raise NotAllowed(N_("{address} cannot forward to {target}: the same mailbox receives "
                            "both (a mail loop)"), address=address, target=target)
    forward = session.get(Forward, found.id) or Forward(address_id=found.id)
    forward.target, forward.keep_copy = target, keep_copy
    session.add(forward)
    session.flush()
    return forward


def remove_forward(session: Session, address: str) -> None:
    _delete(session, session.get(Forward, find_address(session, address).id),
            NotFound(N_("{address} is not forwarded"), address=address))


def _delete(session: Session, row: object | None, refusal: NotFound) -> None:
    if row is None:
        raise refusal
    session.delete(row)


# --- vacation ------------------------------------------------------------------------

def set_vacation(session: Session, mailbox_name: str, first_day: date, last_day: date,
                 subject: str, body: str, interval_days: int = 7) -> Vacation:
    mailbox = get_mailbox(session, mailbox_name)
    if last_day < first_day:
        raise InvalidInput(N_("the vacation ends ({last_day}) before it starts ({first_day})"),
                           last_day=last_day, first_day=first_day)
    if not 1 <= interval_days <= 365:
        raise InvalidInput(N_("the reply interval must be 1 to 365 days"))
    if len(subject) > 200 or any(not character.isprintable() for character in subject):
        raise InvalidInput(N_("the subject must be one line of at most 200 characters"))
    if not body.strip() or len(body) > 10000:
        raise InvalidInput(N_("the vacation text must have 1 to 10000 characters"))
    vacation = session.get(Vacation, mailbox.id) or Vacation(mailbox_id=mailbox.id)
    vacation.first_day, vacation.last_day = first_day, last_day
    vacation.subject, vacation.body, vacation.interval_days = subject, body, interval_days
    session.add(vacation)
    session.flush()
    return vacation


def clear_vacation(session: Session, mailbox_name: str) -> None:
    _delete(session, session.get(Vacation, get_mailbox(session, mailbox_name).id),
            NotFound(N_("{mailbox} has no vacation reply"), mailbox=mailbox_name))


# --- views ---------------------------------------------------------------------------

def describe(session: Session, mailbox_name: str) -> dict[str, Any]:
    mailbox = get_mailbox(session, mailbox_name)
    rules = session.get(MailboxRules, mailbox.id)
    vacation = session.get(Vacation, mailbox.id)
    forwards = {address.email: session.get(Forward, address.id) for address in mailbox.addresses}
    return {
        "mailbox": mailbox.name,
        "spam": {"enabled": rules.spam_filter_enabled if rules else True,
                 "threshold": float(rules.spam_threshold) if rules else 5.0,
                 "action": rules.spam_action.value if rules else "tag"},
        "whitelist": [entry.sender for entry in list_senders(session, mailbox_name)
                      if entry.list is SenderList.WHITELIST],
        "blacklist": [entry.sender for entry in list_senders(session, mailbox_name)
                      if entry.list is SenderList.BLACKLIST],
        "filters": rules.filters if rules else "",
        "forwards": {address: {"target": forward.target, "keep_copy": forward.keep_copy}
                     for address, forward in forwards.items() if forward},
        "vacation": None if vacation is None else {
            "from": vacation.first_day.isoformat(), "until": vacation.last_day.isoformat(),
            "subject": vacation.subject, "text": vacation.body,
            "interval_days": vacation.interval_days},
    }


def describe_text(view: dict[str, Any]) -> str:
    spam = view["spam"]
    lines = [f"mailbox {view['mailbox']}",
             f"spam: {'on' if spam['enabled'] else 'off'}, threshold {spam['threshold']}, "
             f"action {spam['action']}",
             "whitelist: " + (", ".join(view["whitelist"]) or "-"),
             "blacklist: " + (", ".join(view["blacklist"]) or "-")]
    lines += [f"forward: {address} -> {forward['target']}"
              + (" (copy kept)" if forward["keep_copy"] else "")
              for address, forward in view["forwards"].items()]
    if view["vacation"]:
        vacation = view["vacation"]
        lines.append(f"vacation: {vacation['from']} until {vacation['until']}, "
                     f"every {vacation['interval_days']} days: {vacation['subject']!r}")
    lines.append("filters:" + ("\n" + view["filters"].rstrip() if view["filters"] else " -"))
    return "\n".join(lines)


def explain(rules: RecipientRules, view: MessageView, recipient: str,
            loops: LoopTokens, today: date) -> dict[str, Any]:
    """What the milter's rules would make of a message for this mailbox (the same
    decide_for), without delivering anything or claiming a vacation reply's interval."""
    outcome = decide_for(recipient, rules, view, loops, today)
    plan = outcome.plan
    reply = outcome.reply_withheld
    if outcome.reply is not None:
        reply = f"yes (once per {outcome.reply.interval_days} days per sender)"
    return {"mailbox": rules.login, "spam_score": view.spam_score, "spam": plan.spam,
            "folders": list(plan.delivery.folders),
            "redirects": list(plan.delivery.redirects),
            "discarded": plan.delivery.discarded, "reasons": list(plan.reasons),
            "vacation_reply": reply,
            "notifications": {notification.address: why_not or "yes"
                              for notification, why_not in outcome.notifications}}


def explain_text(result: dict[str, Any]) -> str:
    lines = [f"mailbox {result['mailbox']}: "
             + ("discarded" if result["discarded"] else ", ".join(
                 [f"into {folder}" for folder in result["folders"]]
                 + [f"redirect to {target}" for target in result["redirects"]]))]
    lines += [f"  because {reason}" for reason in result["reasons"]]
    if result["vacation_reply"]:
        lines.append(f"  vacation reply: {result['vacation_reply']}")
    lines += [f"  notification to {address}: {verdict}"
              for address, verdict in result["notifications"].items()]
    return "\n".join(lines)
