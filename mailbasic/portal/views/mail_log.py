""""Where did my mail go?": the SMTP transaction log of the customer's own addresses, by
sender, recipient and date, and a message's story (delivery/story.py) in plain words.

A customer sees only transactions with one of their addresses as the sender, the login
or a recipient; any other id is a 404. Within one, they see what concerns them: their own
recipients in full (folder, spam, forward), and, for mail they sent, the other recipients
as the sending server saw them (accepted or refused, and the remote replies). Whatever
another customer's rules did with the same message (a forward, a folder, a vacation
reply), its Bcc recipients and the rules' summary of all recipients stay hidden.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import selectinload
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional

from mailbasic.delivery import story
from mailbasic.errors import NotFound
from mailbasic.portal.app import db
from mailbasic.portal.views.common import current_customer, login_required
from mailbasic.portal.views.mailboxes import when
from mailbasic.rules.folders import SPAM_FOLDER
from mailbasic.schema import Customer, Domain, SmtpRecipient, SmtpSession, SmtpTransaction

blueprint = Blueprint("mail_log", __name__)
RESULTS = 100


class SearchForm(FlaskForm):
    class Meta:
        csrf = False    # a search changes nothing (GET)

    sender = StringField(lazy_gettext("Sender contains"), validators=[Length(max=254)])
    recipient = StringField(lazy_gettext("Recipient contains"), validators=[Length(max=254)])
    since = DateField(lazy_gettext("Received on or after"), validators=[Optional()])
    until = DateField(lazy_gettext("Received on or before"), validators=[Optional()])


# -- which transactions are the customer's ----------------------------------------------

def own_addresses(customer: Customer) -> set[str]:
    return {address.email.lower() for mailbox in customer.mailboxes
            for address in mailbox.addresses}


def involving(own: set[str]) -> ColumnElement[bool]:
    """The customer's address is the sender, the login, or one of the recipients."""
    return or_(SmtpTransaction.sender.in_(own),
               func.lower(SmtpTransaction.auth_user).in_(own),
               SmtpTransaction.id.in_(select(SmtpRecipient.transaction_id)
                                      .where(SmtpRecipient.address.in_(own))))


def midnight(day: date) -> datetime:
    """The day's start in the server's time zone, as the times are shown."""
    return datetime.combine(day, time()).astimezone()


def search_query(own: set[str], form: SearchForm) -> Select[SmtpTransaction]:
    query = (select(SmtpTransaction).options(selectinload(SmtpTransaction.recipients))
             .where(involving(own))
             .order_by(SmtpTransaction.logged_at.desc(), SmtpTransaction.id.desc())
             .limit(RESULTS))
    if sender := (form.sender.data or "").strip().lower():
        query = query.where(SmtpTransaction.sender.contains(sender, autoescape=True))
    if recipient := (form.recipient.data or "").strip().lower():
        query = query.where(SmtpTransaction.id.in_(select(SmtpRecipient.transaction_id).where(
            SmtpRecipient.address.contains(recipient, autoescape=True))))
    if form.since.data:
        query = query.where(SmtpTransaction.logged_at >= midnight(form.since.data))
    if form.until.data:
        query = query.where(SmtpTransaction.logged_at
                            < midnight(form.until.data + timedelta(days=1)))
    return query


def own_transaction(transaction_id: int, own: set[str]) -> SmtpTransaction:
    found = db().scalar(select(SmtpTransaction).where(SmtpTransaction.id == transaction_id,
                                                      involving(own)))
    if found is None:
        raise NotFound("not found")
    return found


# -- pages ------------------------------------------------------------------------------

@blueprint.route("/mail-log")
@login_required
def index() -> Any:
    own = own_addresses(current_customer())
    form = SearchForm(formdata=request.args)
    valid = form.validate()
    found = list(db().scalars(search_query(own, form))) if valid else []
    return render_template("mail_log.html", form=form, limit=RESULTS,
                           results=[summary(transaction, own) for transaction in found],
                           refusals=refused_at_rcpt(own, form) if valid else [])


def refused_at_rcpt(own: set[str], form: SearchForm) -> list[dict[str, Any]]:
    """Mail refused for one of the customer's addresses before it was sent (unknown,
    mailbox full, switched off, ...): Postfix's own refusal lines in the delivery record,
    which the milter may never have seen."""
    query = (select(SmtpSession).where(or_(*(SmtpSession.refusals.contains([{"to": address}])
                                               for address in sorted(own))))
             .order_by(SmtpSession.connected_at.desc()).limit(RESULTS))
    if form.since.data:
        query = query.where(SmtpSession.connected_at >= midnight(form.since.data))
    if form.until.data:
        query = query.where(SmtpSession.connected_at
                            < midnight(form.until.data + timedelta(days=1)))
    sender = (form.sender.data or "").strip().lower()
    recipient = (form.recipient.data or "").strip().lower()
    return [{"at": when(datetime.fromisoformat(refusal["at"])),
             "sender": refusal.get("from") or "<>", "recipient": refusal["to"],
             "reason": reply_reason(str(refusal.get("reply") or ""))}
            for found in (db().scalars(query) if own else [])
            for refusal in found.refusals
            if refusal.get("to") in own and sender in (refusal.get("from") or "")
            and recipient in refusal["to"]]


@blueprint.route("/mail-log/<int:transaction_id>")
@login_required
def message(transaction_id: int) -> Any:
    own = own_addresses(current_customer())
    transaction = own_transaction(transaction_id, own)
    return render_template("message.html", story=told(transaction, own))


def summary(transaction: SmtpTransaction, own: set[str]) -> dict[str, Any]:
    sent = sent_by(transaction, own)
    return {"id": transaction.id, "at": when(transaction.logged_at),
            "sender": transaction.sender or "<>",
            "recipients": [(recipient.address, state_word(recipient.outcome))
                           for recipient in transaction.recipients
                           if sent or recipient.address in own]}


def sent_by(transaction: SmtpTransaction, own: set[str]) -> bool:
    return transaction.sender in own or (transaction.auth_user or "").lower() in own


# -- a message's story, as far as it is the customer's ----------------------------------

def told(transaction: SmtpTransaction, own: set[str]) -> dict[str, Any]:
    whole = story.story(db(), transaction)
    sent = sent_by(transaction, own)
    recipients = [recipient_view(transaction, recipient.address, recipient.outcome,
                                 recipient.address in own)
                  for recipient in transaction.recipients if sent or recipient.address in own]
    visible = own | (outside(transaction, own) if sent else set())
    targets = {target for recipient in recipients for target in recipient["forwarded_to"]}
    return {"at": when(transaction.logged_at), "sender": transaction.sender or "<>",
            "client": whole["client"], "size": transaction.size, "sent": sent,
            "checks": checks(transaction.verdicts), "recipients": recipients,
            "deliveries": [attempt_view(attempt) for attempt in whole["deliveries"]
                           if concerns(attempt, own, visible, targets)],
            # What the sender gets back about their message (not a vacation reply of
            # another customer's, nor a notification by another's filter).
            "notices": [{"kind": notice_kind(caused["kind"]),
                         "at": when(datetime.fromisoformat(caused["at"]))}
                        for caused in whole["caused"] if sent and caused["kind"] in NOTICES]}


def outside(transaction: SmtpTransaction, own: set[str]) -> set[str]:
    """The recipients in domains not hosted here. The deliveries to another customer's
    mailbox here (its folders, forwards, aliases) are that customer's business."""
    others = {recipient.address for recipient in transaction.recipients} - own
    domains = {address.rpartition("@")[2] for address in others}
    hosted = set(db().scalars(select(Domain.name).where(Domain.name.in_(domains))))
    return {address for address in others if address.rpartition("@")[2] not in hosted}


def base_address(address: str | None) -> str:
    """login+detail@domain (a folder, recipient_delimiter) -> login@domain."""
    local_part, _, domain = (address or "").rpartition("@")
    return f"{local_part.partition('+')[0]}@{domain}"


def concerns(attempt: dict[str, Any], own: set[str], visible: set[str],
             targets: set[str]) -> bool:
    """An attempt for one of the recipients the customer sees (a folder of theirs is
    login+token@domain, an alias of theirs is rewritten to its login), or for one of
    their own forwards; not one to another customer's forward, folder or alias."""
    addressed = base_address(attempt["orig_recipient"] or attempt["recipient"])
    return (addressed in visible or base_address(attempt["recipient"]) in own
            or attempt["recipient"] in targets)


def postfix_reply(transaction: SmtpTransaction, address: str) -> str | None:
    """What Postfix answered the sending server for this recipient: the refusals are
    in the SMTP session (the delivery record), found by client and time, since a
    message none of whose recipients was accepted has no queue id to find it by."""
    sessions = db().scalars(select(SmtpSession).where(
        SmtpSession.client_address == transaction.client_address,
        SmtpSession.connected_at.between(transaction.logged_at - timedelta(hours=1),
                                         transaction.logged_at + timedelta(minutes=1)))
        .order_by(SmtpSession.connected_at.desc()).limit(5))
    for found in sessions:
        for refusal in found.refusals:
            if (refusal.get("to") or "").lower() == address and refusal.get("reply"):
                return str(refusal["reply"])
    return None


# -- in plain words ---------------------------------------------------------------------

# The milter's outcome of a recipient is "accepted: into INBOX, redirect to x@y" (the
# rules' Plan.describe()), "accepted", "refused", "refused by Postfix", "not delivered".
_PARTS = re.compile(r", (?=into |redirect to |discarded$)")
_ENHANCED = re.compile(r"\d{3}[ -]([245])\.(\d{1,3}\.\d{1,3})\b")
_REPLY_REASONS = {     # enhanced status code (RFC 3463) without its class
    "1.1": lazy_gettext("the address does not exist"),
    "2.1": lazy_gettext("the mailbox is switched off"),
    "2.2": lazy_gettext("the mailbox is full"),
    "3.4": lazy_gettext("the message is too large"),
    "5.3": lazy_gettext("too many recipients at once"),
    "7.1": lazy_gettext("the receiving server's rules do not accept it"),
    "rate": lazy_gettext("too many messages sent in a short time"),
}
_STAGE_REFUSALS = {
    "virus": lazy_gettext("a virus was found in it"),
    "size": lazy_gettext("the message is too large"),
    "sender": lazy_gettext("the sender address (From:) is not one of the login's"),
}
_STATES = {"accepted": lazy_gettext("accepted"), "refused": lazy_gettext("refused"),
           "refused by Postfix": lazy_gettext("refused"),
           "not delivered": lazy_gettext("not received")}
_STATUSES = {
    "sent": lazy_gettext("delivered"),
    "deferred": lazy_gettext("delayed: it is tried again later"),
    "bounced": lazy_gettext("not deliverable: returned to the sender"),
    "expired": lazy_gettext("given up after trying for days"),
    "undeliverable": lazy_gettext("not deliverable"),
    "deliverable": lazy_gettext("deliverable (an address check only)"),
}
_CHECKS = {"spam": lazy_gettext("Spam check"), "virus": lazy_gettext("Virus check")}
_VERDICTS = {
    "spam": lazy_gettext("spam"), "ham": lazy_gettext("not spam"),
    "skipped": lazy_gettext("not checked: sent by a logged-in user"),
    "not-scanned": lazy_gettext("not checked"), "clean": lazy_gettext("no virus found"),
    "infected": lazy_gettext("virus found and removed"),
    "reject": lazy_gettext("refused"), "tempfail": lazy_gettext("check not available"),
}
NOTICES = {
    "non-delivery notification": lazy_gettext("A notice that it could not be delivered"),
    "delay notification": lazy_gettext("A notice that its delivery is delayed"),
    "delivery notification": lazy_gettext("A delivery status notice"),
    "success notification": lazy_gettext("A notice that it was delivered"),
}


def state_word(outcome: str) -> str:
    state = outcome.partition(": ")[0]
    return str(_STATES.get(state, outcome))


def notice_kind(kind: str) -> str:
    return str(NOTICES.get(kind, kind))


def recipient_view(transaction: SmtpTransaction, address: str, outcome: str,
                   mine: bool) -> dict[str, Any]:
    """Another's recipient of the customer's mail: only what the sending server was
    told (accepted or refused, and why), never what that mailbox's rules did."""
    state, _, detail = outcome.partition(": ")
    parts = _PARTS.split(detail) if mine and state == "accepted" and detail else []
    if parts:
        said = [decision(part, transaction.verdicts) for part in parts]
    elif state == "accepted":
        said = [gettext("Accepted for delivery.")]
    elif state == "refused":
        said = [gettext("Refused: %(reason)s.", reason=message_refusal(transaction))]
    elif state == "refused by Postfix":
        reply = postfix_reply(transaction, address)
        said = [gettext("Refused: %(reason)s.", reason=reply_reason(reply)) if reply
                else gettext("Refused by the mail server.")]
    elif state == "not delivered":
        said = [gettext("Not received: the sending server broke off before the message "
                        "was complete.")]
    else:
        said = [outcome if mine else state]
    return {"address": address, "said": said, "outcome": outcome if mine else state,
            "forwarded_to": [part.removeprefix("redirect to ") for part in parts
                             if part.startswith("redirect to ")]}


def decision(part: str, verdicts: dict[str, Any]) -> str:
    """One of the rules' decisions for the customer's recipient."""
    if part == "into INBOX":
        return str(gettext("Into the inbox."))
    if part == f"into {SPAM_FOLDER}":
        return str(gettext("Into the spam folder."))
    if part.startswith("into "):
        return str(gettext("Into the folder “%(folder)s”, by your filter rules.",
                           folder=part.removeprefix("into ")))
    if part.startswith("redirect to "):
        return str(gettext("Forwarded to %(target)s.", target=part.removeprefix("redirect to ")))
    if part == "discarded":
        if (verdicts.get("spam") or {}).get("verdict") == "spam":
            return str(gettext("Deleted as spam, as your spam setting says."))
        return str(gettext("Deleted by your rules (a filter, or your spam setting)."))
    return part


def message_refusal(transaction: SmtpTransaction) -> str:
    """Why the milter refused the whole message: the stage that refused it."""
    for stage, verdict in transaction.verdicts.items():
        if verdict.get("verdict") == "tempfail":
            return str(gettext("a check was not available for now; the sending server "
                               "tries again later"))
        if verdict.get("verdict") == "reject" and stage in _STAGE_REFUSALS:
            return str(_STAGE_REFUSALS[stage])
    return reply_reason(transaction.reply)


def reply_reason(reply: str) -> str:
    """A server's reply in plain words where its status code says it, else as it is."""
    found = _ENHANCED.match(reply)
    key = "rate" if "rate limit" in reply.lower() else found.group(2) if found else ""
    words = _REPLY_REASONS.get(key)
    if words is None:
        return reply
    if found and found.group(1) == "4":
        return str(gettext("%(reason)s, for now: the sending server tries again later",
                           reason=words))
    return str(words)


def checks(verdicts: dict[str, Any]) -> list[dict[str, str]]:
    """The spam and virus checks of the message; the rules stage's verdict is left out:
    it sums up every recipient's rules, also other customers'."""
    return [{"check": str(label), "verdict": str(_VERDICTS.get(verdict.get("verdict"),
                                                               verdict.get("verdict"))),
             "detail": str(verdict.get("reason") or "")}
            for stage, label in _CHECKS.items() if (verdict := verdicts.get(stage))]


def attempt_view(attempt: dict[str, Any]) -> dict[str, Any]:
    sent = attempt["status"] == "sent"
    return {"at": when(datetime.fromisoformat(attempt["at"])),
            "recipient": base_address(attempt["recipient"]),
            "status": str(_STATUSES.get(attempt["status"], attempt["status"])),
            "reason": None if sent else reply_reason(attempt["reply"]),
            "reply": attempt["reply"], "relay": attempt["relay"]}
