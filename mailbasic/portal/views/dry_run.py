"""The dry run: what a mailbox's rules would do with a message, without delivering it:
the milter's own decision (rules/service.explain, as `mailbasic rules test`).

A pasted message is judged whole. A message from the SMTP log is judged on what the log
keeps, which is the envelope (sender, recipient), the size and the spam score, never the
headers or the body; so it is offered only when the filters read nothing else."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, abort, request
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import Engine, select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than types-WTForms
from wtforms.validators import DataRequired, Optional

from mailbasic.portal.app import db, settings_of
from mailbasic.portal.views.common import login_required
from mailbasic.portal.views.rules import failed, mailbox_page, own_mailbox
from mailbasic.rules import model, service
from mailbasic.rules.loops import LoopTokens
from mailbasic.rules.recipient import MessageView
from mailbasic.rules.store import RulesStore
from mailbasic.schema import Mailbox, SmtpRecipient, SmtpTransaction

blueprint = Blueprint("dry_run", __name__)

LAST_MESSAGES = 10


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
    result, logged = None, None
    if form.validate_on_submit():
        raw = (form.message.data or "").encode("utf-8")
        view = MessageView.parse(form.sender.data or "", raw)
        if not form.sender.data:  # as `rules test`: the From: address stands in
            view = MessageView.parse(view.first_from(), raw)
        result = explained(form.recipient.data or "", view)
    elif request.args.get("logged", "").isdigit():
        logged = logged_decision(mailbox, int(request.args["logged"]))
    return mailbox_page("filter_test.html", mailbox, 200 if result else failed(), form=form,
                        result=result, logged=logged, messages=last_messages(mailbox))


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


# --- messages from the SMTP log ---------------------------------------------------------------

def last_messages(mailbox: Mailbox) -> list[tuple[SmtpRecipient, SmtpTransaction]]:
    addresses = [address.email.lower() for address in mailbox.addresses]
    rows = db().execute(
        select(SmtpRecipient, SmtpTransaction).join(SmtpRecipient.transaction)
        .where(SmtpRecipient.address.in_(addresses))
        .order_by(SmtpTransaction.logged_at.desc(), SmtpRecipient.id.desc())
        .limit(LAST_MESSAGES))
    return [(recipient, transaction) for recipient, transaction in rows]


def logged_decision(mailbox: Mailbox, recipient_id: int) -> dict[str, Any]:
    """The decision for a logged message, when the log keeps what the filters read."""
    recipient = db().get(SmtpRecipient, recipient_id)
    addresses = {address.email.lower() for address in mailbox.addresses}
    if recipient is None or recipient.address not in addresses:
        abort(404)  # another mailbox's message is as good as absent
    transaction = recipient.transaction
    logged: dict[str, Any] = {"recipient": recipient, "transaction": transaction}
    if not reads_only_the_envelope(service.filters_of(db(), mailbox.name).commands):
        return logged   # the page says why it cannot tell
    view = MessageView.of(transaction.sender, (), transaction.size or 0, lambda: "",
                          spam_score(transaction.verdicts))
    logged["result"] = explained(recipient.address, view)
    return logged


def reads_only_the_envelope(commands: model.Block) -> bool:
    """Whether the filters test nothing but the envelope and the size."""
    for command in commands:
        if isinstance(command, model.If):
            blocks = [block for _, block in command.branches] + [command.otherwise or ()]
            if not all(_envelope_test(test) for test, _ in command.branches) or not all(
                    reads_only_the_envelope(block) for block in blocks):
                return False
    return True


def _envelope_test(test: model.Test) -> bool:
    if isinstance(test, (model.AllOf, model.AnyOf)):
        return all(_envelope_test(inner) for inner in test.tests)
    if isinstance(test, model.Not):
        return _envelope_test(test.test)
    return isinstance(test, (model.EnvelopeTest, model.SizeTest, model.Constant))


def spam_score(verdicts: dict[str, Any]) -> float | None:
    """The spam stage's score as the log keeps it: "score 7.3/5.0"."""
    found = re.match(r"score (-?[0-9.]+)/", str(verdicts.get("spam", {}).get("reason", "")))
    return float(found.group(1)) if found else None


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
