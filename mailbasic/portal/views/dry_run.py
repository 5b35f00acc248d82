"""The dry run: what a mailbox's rules would do with a message, without delivering it:
the milter's own decision (rules/service.explain, as `mailbasic rules test`).

A pasted message is judged whole, and so is one of the latest messages the mailbox holds
(stored_mail.py), as it arrived: with its spam score of then."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from flask import Blueprint, abort, request
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import Engine
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than types-WTForms
from wtforms.validators import DataRequired, Optional

from mailbasic.portal.app import db, settings_of
from mailbasic.portal.stored_mail import MailUnreadable, StoredMail, StoredMessage
from mailbasic.portal.views.common import login_required
from mailbasic.portal.views.rules import failed, mailbox_page, own_mailbox
from mailbasic.rules import service
from mailbasic.rules.loops import LoopTokens
from mailbasic.rules.recipient import MessageView, bare_address
from mailbasic.rules.store import RulesStore
from mailbasic.schema import Mailbox

blueprint = Blueprint("dry_run", __name__)
log = logging.getLogger(__name__)


class DryRunForm(FlaskForm):
    recipient = SelectField(lazy_gettext("Sent to"))
    sender = StringField(lazy_gettext("Envelope sender (empty: the From: address)"),
                         validators=[Optional()])
    message = TextAreaField(lazy_gettext("The message, with all its headers"),
                            validators=[DataRequired()])


@blueprint.route("/mailboxes/<int:mailbox_id>/filters/test", methods=["GET", "POST"])
@login_required
def dry_run(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = DryRunForm()
    form.recipient.choices = [SelectChoice(address.email) for address in mailbox.addresses]
    result = pasted_decision(form) if form.validate_on_submit() else None
    stored = StoredMail.of(settings_of())
    latest: list[StoredMessage] = []
    readable = stored is not None   # not configured: pasting is the only way
    try:
        if stored is not None and "stored" in request.args:
            result = stored_decision(mailbox, stored, request.args["stored"])
        if stored is not None:
            latest = stored.latest(mailbox_user(mailbox))
    except MailUnreadable as error:
        log.warning("portal: the mail of %s cannot be read: %s", mailbox.name, error)
        readable = False
    return mailbox_page("filter_test.html", mailbox, 200 if result else failed(), form=form,
                        result=result, messages=latest, readable=readable,
                        tested=request.args.get("stored"))


def pasted_decision(form: DryRunForm) -> dict[str, Any]:
    raw = (form.message.data or "").encode("utf-8")
    view = MessageView.parse(form.sender.data or "", raw)
    if not form.sender.data:  # as `rules test`: the From: address stands in
        view = MessageView.parse(view.first_from(), raw)
    return explained(form.recipient.data or "", view)


def explained(recipient: str, view: MessageView) -> dict[str, Any]:
    bind = db().get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    rules = RulesStore(engine, cache_seconds=0).rules_for(recipient)
    if rules is None:   # the address was just removed
        abort(404)
    result = service.explain(rules, view, recipient, LoopTokens(settings_of().srs_secrets),
                             date.today())
    result["reasons"] = [reason_text(reason) for reason in result["reasons"]]
    result["vacation_reply"] = reply_text(result["vacation_reply"])
    return result


# --- messages stored in the mailbox ------------------------------------------------------------

def stored_decision(mailbox: Mailbox, stored: StoredMail, reference: str) -> dict[str, Any]:
    """The decision for a message the mailbox holds, as it arrived: its envelope sender
    from Return-Path, its recipient the first of the mailbox's addresses it names."""
    raw = stored.whole(mailbox_user(mailbox), reference)
    if raw is None:
        abort(404)   # gone meanwhile, or never this mailbox's
    headers = MessageView.parse("", raw).incoming
    view = MessageView.parse(bare_address(headers.first("return-path")), raw)
    addresses = [address.email.lower() for address in mailbox.addresses]
    named = [address for address in headers.addresses("to", "cc", "delivered-to")
             if address in addresses]
    return explained((named or addresses)[0], view)


def mailbox_user(mailbox: Mailbox) -> str:
    """The mailbox's login at Dovecot: its primary address (view dovecot_users)."""
    return mailbox.primary_address.email.lower()


# --- the decision's reasons in the customer's language ------------------------------------------
# rules/decide.py words them for the log; a reason not listed here is shown as it is.

REASONS = (
    (r"forwarded to (?P<target>\S+)", lazy_gettext("forwarded to %(target)s")),
    (r"forwarding to (?P<target>\S+) skipped: mail loop",
     lazy_gettext("forwarding to %(target)s skipped: the message has been there already")),
    (r"(?P<sender>\S+) whitelisted", lazy_gettext("%(sender)s is always welcome")),
    (r"(?P<sender>\S+) blacklisted: spam", lazy_gettext("%(sender)s is always spam")),
    (r"spam: score (?P<score>\S+) >= (?P<threshold>\S+)",
     lazy_gettext("spam: score %(score)s, your limit %(threshold)s")),
    (r"spam deleted", lazy_gettext("spam is deleted")),
    (r"filters: discard", lazy_gettext("your filters discard it")),
    (r"filters: (?P<result>.+)", lazy_gettext("your filters: %(result)s")),
)
REPLY_WITHHELD = {
    "outside vacation dates": lazy_gettext("no: not within the vacation dates"),
    "null sender": lazy_gettext("no: the message is itself an automatic reply or bounce"),
    "auto-submitted": lazy_gettext("no: the message was sent automatically"),
    "precedence bulk": lazy_gettext("no: the message is bulk mail"),
    "mailing list": lazy_gettext("no: the message comes from a mailing list"),
    "spam": lazy_gettext("no: the message is spam"),
    "auto-response suppressed": lazy_gettext("no: the sender asks for no automatic replies"),
    "automated sender": lazy_gettext("no: the sender is an automated system"),
    "not addressed directly": lazy_gettext("no: the message is not addressed to you directly"),
}


def reason_text(reason: str) -> str:
    for pattern, text in REASONS:
        found = re.fullmatch(pattern, reason)
        if found:
            return str(text) % found.groupdict()
    return reason


def reply_text(reply: str | None) -> str | None:
    if reply is None:
        return None
    days = re.fullmatch(r"yes \(once per (\d+) days per sender\)", reply)
    if days:
        return str(gettext("yes (to each sender at most once in %(days)s days)",
                           days=days.group(1)))
    return str(REPLY_WITHHELD.get(reply, reply))
