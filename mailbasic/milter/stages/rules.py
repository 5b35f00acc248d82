"""Rules: each recipient mailbox's forwarding, sender lists, spam action, filters and
vacation, after virus and spam. Every recipient gets its own outcome; the milter applies
them by rewriting the envelope (a folder is login+TOKEN, see rules/folders.py)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import UTC, datetime
from email.utils import getaddresses

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
from mailbasic.rules import notify, vacation
from mailbasic.rules.decide import Plan, RecipientRules, decide
from mailbasic.rules.evaluate import Envelope, MessageFacts, text_of
from mailbasic.rules.folders import folder_address
from mailbasic.rules.model import INBOX
from mailbasic.rules.store import RulesStore
from mailbasic.srs import Srs, srs_domain

log = logging.getLogger("mailbasic.milter")

LOOP_HEADER = "X-Mailbasic-Loop"
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
MAX_HOPS = 25  # Received: lines; Postfix itself gives up at 50


def quiet_note(recipient: str) -> str:
    """Marks a recipient whose mailbox does not get the message as mail (spam, discarded,
    forwarded away): later stages (SMS) leave it alone."""
    return "quiet:" + recipient.strip("<>").lower()


class LoopTokens:
    """Name a forwarding address in the loop header without disclosing it: an HMAC under
    the service's secret (the SRS secrets), so that an outsider can neither forge a token
    to switch a forward off nor confirm a guessed forwarding address. Tokens under every
    secret are recognised, the first one's are written (rotation, as for SRS)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # Without SRS secrets there is no forwarding to outside worth protecting: a fixed
        # key still keeps the token from being the plain hash of the address.
        self.keys = [secret.encode() for secret in secrets] or [b"mailbasic loop token"]

    def token(self, address: str, key: bytes | None = None) -> str:
        message = b"loop:" + address.lower().encode()
        return hmac.new(key or self.keys[0], message, hashlib.sha256).hexdigest()[:16]

    def seen(self, address: str, tokens: set[str]) -> bool:
        return any(self.token(address, key) in tokens for key in self.keys)


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
        targets = [(recipient, self.store.rules_for(recipient.strip("<>")))
                   for recipient in message.recipients]
        if all(rules is None for _, rules in targets):
            return Outcome(self.name, "none", "no recipient with rules here")
        facts = message_facts(message)
        context = _Context(message, facts, self.loop_tokens)
        plans = [(recipient, rules, decide(rules, facts, context.senders, context.spam_score,
                                           context.looped(recipient),
                                           envelope=Envelope(message.sender.strip("<>"),
                                                             recipient.strip("<>"))))
                 for recipient, rules in targets if rules is not None]
        return self._outcome(message, context, plans)

    def _outcome(self, message: Message, context: _Context,
                 plans: list[tuple[str, RecipientRules, Plan]]) -> Outcome:
        actions: list[Action] = []
        remaining = set(message.recipients)
        notes: list[tuple[str, str]] = []
        redirected: list[str] = []
        for recipient, rules, plan in plans:
            changes = _envelope_changes(recipient, rules, plan)
            for target in plan.delivery.redirects:
                if len(redirected) < self.max_redirects and target not in redirected:
                    redirected.append(target)
                    changes.append(AddRecipient(target))
            actions.extend(changes)
            remaining -= {change.address for change in changes
                          if isinstance(change, DeleteRecipient)}
            remaining |= {change.address for change in changes
                          if isinstance(change, AddRecipient)}
            notes.append((recipient.strip("<>"), plan.describe()))
            if plan.spam or not plan.delivery.folders:
                message.notes[quiet_note(recipient)] = plan.describe()
            actions.extend(self._vacation_reply(message, context, rules, plan))
            actions.extend(self._notifications(context, rules, plan))
        actions.extend(self._forwarding_marks(message, plans, redirected))
        summary = "; ".join(f"{address}: {what}" for address, what in notes)
        if not remaining:
            return Outcome(self.name, "discard", summary, recipients=tuple(notes),
                           discard=True)
        return Outcome(self.name, "applied", summary, tuple(actions), recipients=tuple(notes))

    def _forwarding_marks(self, message: Message, plans: list[tuple[str, RecipientRules, Plan]],
                          redirected: list[str]) -> list[Action]:
        if not redirected:
            return []
        marks: list[Action] = [AddHeader(LOOP_HEADER,
                                         self.loop_tokens.token(recipient.strip("<>")))
                               for recipient, _, plan in plans if plan.delivery.redirects]
        sender = message.sender.strip("<>")
        leaves = any(self.store.rules_for(target) is None for target in redirected)
        if leaves and sender and self.srs and self.store.rules_for(sender) is None:
            marks.append(ChangeSender(self.srs.forward(sender, self.srs_domain)))
        elif leaves and sender and not self.srs:
            log.warning("%s: stage=rules forwarding without SRS: no forwarding.srs_secrets",
                        message.queue_id)
        return marks

    def _vacation_reply(self, message: Message, context: _Context, rules: RecipientRules,
                        plan: Plan) -> list[Action]:
        settings = plan.reply
        if settings is None:
            return []
        now = datetime.now(UTC)
        why_not = vacation.reason_not_to_reply(settings, context.incoming, rules.addresses,
                                               now.astimezone().date())
        sender = message.sender.strip("<>")
        if why_not or not self.store.claim_vacation_reply(rules.mailbox_id, sender,
                                                          settings.interval_days):
            return []
        data = vacation.compose_reply(settings, context.incoming, rules.login, sender, now,
                                      self.service_domain)
        return [SendMessage(sender, data)]

    def _notifications(self, context: _Context, rules: RecipientRules,
                       plan: Plan) -> list[Action]:
        if not plan.notifications or notify.reason_not_to_notify(context.incoming):
            return []
        now = datetime.now(UTC)
        return [SendMessage(each.address, notify.compose_notification(
            each, context.incoming, rules.login, now, self.service_domain))
            for each in plan.notifications]


def message_facts(message: Message) -> MessageFacts:
    """The rules' view of what the milter collected; the body is read only if a body
    test runs."""
    headers = tuple((name, _UNFOLD.sub("", value.decode("utf-8", "surrogateescape")).strip())
                    for name, value in message.headers)

    def body_text() -> str:
        with message.reader() as spool:
            return text_of(spool.read())
    return MessageFacts(headers=headers, size=message.size, body_text=body_text)


def _envelope_changes(recipient: str, rules: RecipientRules, plan: Plan) -> list[Action]:
    changes: list[Action] = [AddRecipient(folder_address(rules.login, folder))
                             for folder in plan.delivery.folders if folder != INBOX]
    if INBOX not in plan.delivery.folders:
        changes.append(DeleteRecipient(recipient))
    return changes


class _Context:
    """What every recipient's decision reads about the message, worked out once."""

    def __init__(self, message: Message, facts: MessageFacts, loop_tokens: LoopTokens) -> None:
        self.message = message
        self.loop_keys = loop_tokens
        self.facts = facts
        score = message.notes.get("spam_score")
        self.spam_score = float(score) if score is not None else None
        from_values = [value.decode("utf-8", "replace") for name, value in message.headers
                       if name.lower() == "from"]
        self.senders = [address.lower() for address in
                        [message.sender.strip("<>")]
                        + [address for _, address in getaddresses(from_values)] if address]
        self.loop_tokens = {value.decode("ascii", "replace").strip()
                            for name, value in message.headers
                            if name.lower() == LOOP_HEADER.lower()}
        self.hops = sum(1 for name, _ in message.headers if name.lower() == "received")
        self._incoming: vacation.Incoming | None = None

    def looped(self, recipient: str) -> bool:
        return self.hops > MAX_HOPS or self.loop_keys.seen(recipient.strip("<>"),
                                                            self.loop_tokens)

    @property
    def incoming(self) -> vacation.Incoming:
        if self._incoming is None:
            self._incoming = vacation.Incoming.from_headers(
                self.message.sender.strip("<>"), self.message.headers)
        return self._incoming
