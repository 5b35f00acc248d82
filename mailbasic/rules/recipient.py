"""The one per-recipient decision: what a message becomes for one recipient mailbox.

The milter's rules stage and `mailbasic rules test` both call `decide_for` with a
`MessageView` and apply or print the `RecipientOutcome`; neither decides anything itself.
What only the milter can do (claim the once-per-interval memory of a vacation reply,
compose and send mail) stays with the milter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from mailbasic.rules import notify, vacation
from mailbasic.rules.decide import Plan, RecipientRules, decide
from mailbasic.rules.evaluate import (
    Envelope,
    MessageFacts,
    decode_value,
    header_fields,
    text_of,
)
from mailbasic.rules.loops import LOOP_HEADER, MAX_HOPS, LoopTokens
from mailbasic.rules.model import Notify


def bare_address(value: str) -> str:
    """An SMTP path as the rules compare it: without <> and spaces ("" is the null
    sender). Every address enters the rules through here, once."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


@dataclass(frozen=True)
class MessageView:
    """What every recipient's decision reads about one message, worked out once."""

    sender: str                        # the envelope sender, bare ("" for the null sender)
    facts: MessageFacts                # unfolded headers, size, the body text on demand
    incoming: vacation.Incoming        # decoded headers, for replies and notifications
    senders: tuple[str, ...]           # envelope sender and From: addresses, lower case
    spam_score: float | None           # the spam engine's, None when not scanned
    loop_tokens: frozenset[str]
    hops: int                          # Received: lines

    @classmethod
    def of(cls, sender: str, headers: Iterable[tuple[str, str]], size: int,
           body_text: Callable[[], str], spam_score: float | None) -> MessageView:
        """headers: (name, raw value, unfolded) in order, as received."""
        headers = tuple(headers)
        sender = bare_address(sender)
        facts = MessageFacts(headers=headers, size=size, body_text=body_text)
        incoming = vacation.Incoming(sender, tuple((name, decode_value(value))
                                                   for name, value in headers))
        senders = tuple(address.lower() for address in
                        [sender, *incoming.from_addresses()] if address)
        tokens = frozenset(value.strip() for name, value in headers
                           if name.lower() == LOOP_HEADER.lower())
        hops = sum(1 for name, _ in headers if name.lower() == "received")
        return cls(sender, facts, incoming, senders, spam_score, tokens, hops)

    @classmethod
    def parse(cls, sender: str, raw: bytes) -> MessageView:
        """A whole message as bytes (`rules test`): its spam score is its X-Spam-Score."""
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        headers = tuple(header_fields(head))
        return cls.of(sender, headers, len(raw), lambda: text_of(raw), _spam_score(headers))

    def first_from(self) -> str:
        """The first From: address ("" when there is none)."""
        return next(iter(self.incoming.from_addresses()), "")


@dataclass(frozen=True)
class RecipientOutcome:
    recipient: str                     # bare, as given in RCPT TO
    rules: RecipientRules
    plan: Plan
    reply: vacation.Vacation | None    # a vacation reply that passed every exclusion
    reply_withheld: str | None         # why a due reply does not go out
    notifications: tuple[tuple[Notify, str | None], ...]  # each with why it does not go

    @property
    def keeps_mail(self) -> bool:
        """Whether the mailbox gets the message as mail (not spam, not only elsewhere)."""
        return not self.plan.spam and bool(self.plan.delivery.folders)

    def describe(self) -> str:
        return self.plan.describe()


def decide_for(recipient: str, rules: RecipientRules, view: MessageView, loops: LoopTokens,
               today: date) -> RecipientOutcome:
    recipient = bare_address(recipient)
    looped = view.hops > MAX_HOPS or loops.seen(recipient, view.loop_tokens)
    plan = decide(rules, view.facts, list(view.senders), view.spam_score, looped,
                  envelope=Envelope(view.sender, recipient))
    reply, withheld = plan.reply, None
    if reply is not None:
        withheld = vacation.reason_not_to_reply(reply, view.incoming, rules.addresses, today)
    why_not = notify.reason_not_to_notify(view.incoming)
    return RecipientOutcome(recipient, rules, plan, None if withheld else reply, withheld,
                            tuple((each, why_not) for each in plan.notifications))


def _spam_score(headers: tuple[tuple[str, str], ...]) -> float | None:
    for name, value in headers:
        if name.lower() == "x-spam-score":
            try:
                return float(value.strip())
            except ValueError:
                return None
    return None
