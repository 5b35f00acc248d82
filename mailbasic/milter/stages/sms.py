"""SMS: for each recipient mailbox that gets the message and has a matching SMS rule, a
notification (sender and subject, at most 160 characters) for the outbox. The milter
writes it with the transaction's log record; `mailbasic jobs sms` sends it."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.utils import parseaddr

from mailbasic.config import Settings
from mailbasic.directory import directory_engine
from mailbasic.milter.decisions import Outcome
from mailbasic.milter.message import Message
from mailbasic.milter.stages.rules import message_view
from mailbasic.sms.gateway import sms_text
from mailbasic.sms.notification import QueueNotification
from mailbasic.sms.rules import Arrival, matching_rule
from mailbasic.sms.store import SmsStore


class SmsStage:
    name = "sms"

    def __init__(self, settings: Settings, store: SmsStore | None = None) -> None:
        self.store = store or SmsStore(directory_engine(settings),
                                       settings.policy_cache_seconds)

    def run(self, message: Message) -> Outcome:
        looked_up = [(recipient, self.store.profile_for(recipient))
                     for recipient in message.recipients if message.keeps_mail(recipient)]
        profiles = [(recipient, profile) for recipient, profile in looked_up if profile]
        if not profiles:
            return Outcome(self.name, "none", "no recipient wants an SMS")
        arrival = _arrival(message)
        queued: list[QueueNotification] = []
        reasons: list[str] = []
        for recipient, profile in profiles:
            reason = matching_rule(profile, arrival)
            if reason and profile.mailbox_id not in {item.mailbox_id for item in queued}:
                queued.append(QueueNotification(profile.mailbox_id, profile.phone,
                                                _text(arrival), reason))
                reasons.append(f"{recipient}: {reason}")
        if not queued:
            return Outcome(self.name, "none", "no SMS rule matches")
        return Outcome(self.name, "queued", "; ".join(reasons), tuple(queued))


def _arrival(message: Message) -> Arrival:
    view = message_view(message)
    return Arrival(view.senders, view.incoming.first("subject"), view.facts.headers)


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError):
        return value


def _text(arrival: Arrival) -> str:
    """The sender as the recipient knows them: the From: name, else its address."""
    sender = next((value for name, value in arrival.headers if name.lower() == "from"), "")
    name, address = parseaddr(_decoded(sender))
    return sms_text(name or address or (arrival.senders or ("unknown",))[0],
                    arrival.subject)
