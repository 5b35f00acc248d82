"""Rules: each recipient mailbox's forwarding, sender lists, spam action, filters and
vacation, after virus and spam. `rules.recipient.decide_for` decides for each recipient;
this stage only turns its outcomes into envelope changes and automatic mail (a folder is
login+TOKEN, see rules/folders.py)."""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime

from mailbasic.config import Settings
from mailbasic.directory import directory_engine
from mailbasic.milter.decisions import (
    Action,
    AddHeader,
    AddRecipient,
    ChangeSender,
    DeleteRecipient,
    Outcome,
    SendMessage,
)
from mailbasic.milter.message import Message
from mailbasic.milter.stages.authentication import quarantined
from mailbasic.rules import notify, vacation
from mailbasic.rules.evaluate import text_of
from mailbasic.rules.folders import folder_address
from mailbasic.rules.loops import LOOP_HEADER, LoopTokens
from mailbasic.rules.model import INBOX
from mailbasic.rules.recipient import MessageView, RecipientOutcome, decide_for
from mailbasic.rules.store import RulesStore
from mailbasic.srs import Srs, srs_domain

log = logging.getLogger("mailbasic.milter")

_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
QUARANTINE_SCORE = math.inf


def message_view(message: Message) -> MessageView:
    """The rules' view of what the milter collected, made once per message (the rules and
    SMS stages both read it; only stages after the scanners call this, so the spam score
    is in it); the body is read only if a body test runs."""
    if message.view is None:
        message.view = _view_of(message)
    return message.view


def _view_of(message: Message) -> MessageView:
    headers = [(name, _UNFOLD.sub("", value.decode("utf-8", "surrogateescape")).strip())
               for name, value in message.headers]

    def body_text() -> str:
        with message.reader() as spool:
            return text_of(spool.read())
    # A DMARC failure under p=quarantine counts as spam for every mailbox: a score above
    # any threshold, so that each mailbox's own spam action (and sender lists) decides.
    score = QUARANTINE_SCORE if quarantined(message.outcomes) else message.spam_score
    return MessageView.of(message.sender, headers, message.size, body_text, score)


class RulesStage:
    name = "rules"

    def __init__(self, settings: Settings, store: RulesStore | None = None) -> None:
        self.store = store or RulesStore(directory_engine(settings),
                                         settings.policy_cache_seconds)
        self.srs = (Srs([secret.encode() for secret in settings.srs_secrets],
                        settings.srs_max_age_days) if settings.srs_secrets else None)
        self.srs_domain = srs_domain(settings)
        self.max_redirects = settings.rules_max_redirects
        self.service_domain = settings.service_domain
        self.loop_tokens = LoopTokens(settings.srs_secrets)

    def run(self, message: Message) -> Outcome:
        targets = [(recipient, self.store.rules_for(recipient))
                   for recipient in message.recipients]
        if all(rules is None for _, rules in targets):
            return Outcome(self.name, "none", "no recipient with rules here")
        view = message_view(message)
        today = datetime.now(UTC).astimezone().date()
        outcomes = [decide_for(recipient, rules, view, self.loop_tokens, today)
                    for recipient, rules in targets if rules is not None]
        for outcome in outcomes:  # for the stages after this one (SMS)
            message.rules_outcomes[outcome.recipient.lower()] = outcome
        return self._outcome(message, view, outcomes)

    def _outcome(self, message: Message, view: MessageView,
                 outcomes: list[RecipientOutcome]) -> Outcome:
        actions: list[Action] = []
        remaining = set(message.recipients)
        redirected: list[str] = []
        for outcome in outcomes:
            changes = _envelope_changes(outcome)
            for target in outcome.plan.delivery.redirects:
                if len(redirected) < self.max_redirects and target not in redirected:
                    redirected.append(target)
                    changes.append(AddRecipient(target))
            actions.extend(changes)
            remaining -= {change.address for change in changes
                          if isinstance(change, DeleteRecipient)}
            remaining |= {change.address for change in changes
                          if isinstance(change, AddRecipient)}
            actions.extend(self._vacation_reply(message, view, outcome))
            actions.extend(self._notifications(message, view, outcome))
        actions.extend(self._forwarding_marks(message, outcomes, redirected))
        described = tuple((outcome.recipient, outcome.describe()) for outcome in outcomes)
        summary = "; ".join(f"{address}: {what}" for address, what in described)
        if not remaining:
            return Outcome(self.name, "discard", summary, recipients=described, discard=True)
        return Outcome(self.name, "applied", summary, tuple(actions), recipients=described)

    def _forwarding_marks(self, message: Message, outcomes: list[RecipientOutcome],
                          redirected: list[str]) -> list[Action]:
        if not redirected:
            return []
        marks: list[Action] = [AddHeader(LOOP_HEADER, self.loop_tokens.token(outcome.recipient))
                               for outcome in outcomes if outcome.plan.delivery.redirects]
        sender = message.sender
        leaves = any(self.store.rules_for(target) is None for target in redirected)
        if leaves and sender and self.srs and self.store.rules_for(sender) is None:
            marks.append(ChangeSender(self.srs.forward(sender, self.srs_domain)))
        elif leaves and sender and not self.srs:
            log.warning("%s: stage=rules forwarding without SRS: no forwarding.srs_secrets",
                        message.queue_id)
        return marks

    def _vacation_reply(self, message: Message, view: MessageView,
                        outcome: RecipientOutcome) -> list[Action]:
        reply, rules = outcome.reply, outcome.rules
        if reply is None or not self.store.claim_vacation_reply(
                rules.mailbox_id, view.sender, reply.interval_days):
            return []
        data = vacation.compose_reply(reply, view.incoming, rules.login, view.sender,
                                      datetime.now(UTC), self.service_domain,
                                      cause=message.queue_id)
        return [SendMessage(view.sender, data)]

    def _notifications(self, message: Message, view: MessageView,
                       outcome: RecipientOutcome) -> list[Action]:
        now = datetime.now(UTC)
        return [SendMessage(each.address, notify.compose_notification(
            each, view.incoming, outcome.rules.login, now, self.service_domain,
            cause=message.queue_id))
            for each, why_not in outcome.notifications if why_not is None]


def _envelope_changes(outcome: RecipientOutcome) -> list[Action]:
    folders = outcome.plan.delivery.folders
    changes: list[Action] = [AddRecipient(folder_address(outcome.rules.login, folder))
                             for folder in folders if folder != INBOX]
    if INBOX not in folders:
        changes.append(DeleteRecipient(outcome.recipient))
    return changes
