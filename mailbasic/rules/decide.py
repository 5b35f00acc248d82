"""What happens to one message for one recipient mailbox, and why.

Pure decision code, called only through `rules.recipient.decide_for`, which the milter's
rules stage and `mailbasic rules test` both use. The order is fixed
and deliberate: forwarding (a property of the address) first; then the sender lists;
then the spam action, which, when it files or deletes, ends there (a spam message is not
run through the customer's filters); then the filters. Last, the automatic mail the
rules call for: a vacation reply (a filter's vacation action, else the mailbox's vacation)
and the filters' notifications, only for a message the mailbox keeps and that is not
spam. Whether they go out is then up to their exclusions (vacation.py, notify.py) and,
for the reply, the once-per-interval memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from mailbasic.rules.folders import SPAM_FOLDER
from mailbasic.rules.model import INBOX, Delivery, Notify
from mailbasic.rules.vacation import Vacation

if TYPE_CHECKING:
    from mailbasic.rules.evaluate import Compiled, Envelope, MessageFacts


@dataclass(frozen=True)
class ForwardRule:
    target: str
    keep_copy: bool


@dataclass(frozen=True)
class VacationRule:
    first_day: date
    last_day: date
    subject: str
    body: str
    interval_days: int


@dataclass(frozen=True)
class RecipientRules:
    """Everything about one recipient address that the rules need, loaded together."""

    mailbox_id: int
    login: str                         # the mailbox's primary address, lower case
    addresses: frozenset[str]          # every address of the mailbox, lower case
    spam_enabled: bool
    spam_threshold: float
    spam_action: str                   # tag | folder | delete
    whitelist: frozenset[str]          # addresses and "@domain" entries, lower case
    blacklist: frozenset[str]
    filters: Compiled | None
    forward: ForwardRule | None        # of the recipient address itself
    vacation: VacationRule | None


@dataclass(frozen=True)
class Plan:
    delivery: Delivery
    reasons: tuple[str, ...]
    spam: bool
    reply: Vacation | None = None          # the vacation reply due, before its exclusions
    notifications: tuple[Notify, ...] = ()

    def describe(self) -> str:
        parts = [f"into {folder}" for folder in self.delivery.folders]
        parts += [f"redirect to {target}" for target in self.delivery.redirects]
        return ", ".join(parts) or "discarded"


def listed(senders: list[str], entries: frozenset[str]) -> str | None:
    """The first sender that an entry names, by its address or its whole @domain."""
    for sender in senders:
        domain = "@" + sender.rpartition("@")[2]
        if sender in entries or domain in entries:
            return sender
    return None


def decide(rules: RecipientRules, facts: MessageFacts, senders: list[str],
           spam_score: float | None, forwarding_looped: bool, *,
           envelope: Envelope) -> Plan:
    """senders: the envelope sender and the From: addresses, lower case; envelope: what
    the filters' envelope test sees for this recipient."""
    reasons: list[str] = []
    redirects: tuple[str, ...] = ()
    if rules.forward and forwarding_looped:
        reasons.append(f"forwarding to {rules.forward.target} skipped: mail loop")
    elif rules.forward:
        redirects = (rules.forward.target,)
        reasons.append(f"forwarded to {rules.forward.target}")
        if not rules.forward.keep_copy:
            return Plan(Delivery((), redirects), tuple(reasons), spam=False)
    spam = _is_spam(rules, senders, spam_score, reasons)
    if spam and rules.spam_action == "folder":
        return Plan(Delivery((SPAM_FOLDER,), redirects), tuple(reasons), spam)
    if spam and rules.spam_action == "delete":
        reasons.append("spam deleted")
        return Plan(Delivery((), redirects), tuple(reasons), spam)
    delivery = rules.filters.run(facts, envelope) if rules.filters else Delivery((INBOX,))
    if rules.filters:
        reasons.append("filters: " + (", ".join(delivery.folders + delivery.redirects)
                                      or "discard"))
    # A reply or notification only for mail the mailbox keeps: one about a message that
    # went elsewhere (or nowhere) would be news to nobody, and spam gets no answer.
    kept = bool(delivery.folders) and not spam
    return Plan(Delivery(delivery.folders, redirects + tuple(
        target for target in delivery.redirects if target not in redirects)),
        tuple(reasons), spam, reply=_reply(rules, delivery) if kept else None,
        notifications=delivery.notifications if kept else ())


def _reply(rules: RecipientRules, delivery: Delivery) -> Vacation | None:
    """A filter's vacation action speaks for this message; else the mailbox's vacation."""
    if delivery.vacation is not None:
        return Vacation.of_filter(delivery.vacation)
    if rules.vacation is not None:
        rule = rules.vacation
        return Vacation(rule.first_day, rule.last_day, rule.subject, rule.body,
                        rule.interval_days)
    return None


def _is_spam(rules: RecipientRules, senders: list[str], score: float | None,
             reasons: list[str]) -> bool:
    if sender := listed(senders, rules.whitelist):
        reasons.append(f"{sender} whitelisted")
        return False
    if sender := listed(senders, rules.blacklist):
        reasons.append(f"{sender} blacklisted: spam")
        return True
    if not rules.spam_enabled or score is None:
        return False
    if score >= rules.spam_threshold:
        reasons.append(f"spam: score {score:.1f} >= {rules.spam_threshold:.1f}")
        return True
    return False
