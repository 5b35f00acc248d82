"""A mailbox's rules: spam handling, the sender lists, forwarding per address, the
vacation reply. The filters have their own module (filters.py). What every mailbox page
shares lives here: the mailbox from the URL (another customer's is a 404), the tabs, and
`change`, which runs one service call and records it in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than types-WTForms
from wtforms.validators import DataRequired, InputRequired, Optional

from mailbasic import audit
from mailbasic.errors import MailbasicError, NotFound
from mailbasic.portal.app import db
from mailbasic.portal.views.common import (
    actor,
    current_customer,
    login_required,
    owned,
    refused,
)
from mailbasic.rules import service
from mailbasic.schema import Address, Mailbox

blueprint = Blueprint("rules", __name__)

# The tabs of every mailbox page, in this order (endpoints take the mailbox id).
MAILBOX_PAGES: tuple[tuple[str, Any], ...] = (
    ("rules.spam", lazy_gettext("Spam")),
    ("rules.senders", lazy_gettext("Sender lists")),
    ("filters.filters", lazy_gettext("Filters")),
    ("dry_run.dry_run", lazy_gettext("Test your rules")),
    ("rules.forwarding", lazy_gettext("Forwarding")),
    ("rules.vacation", lazy_gettext("Vacation reply")),
    ("services.sms", lazy_gettext("SMS")),
    ("services.collect", lazy_gettext("POP3 collection")),
    ("services.fax", lazy_gettext("Fax")),
    ("app_passwords.app_passwords", lazy_gettext("App passwords")),
)


def own_mailbox(mailbox_id: int) -> Mailbox:
    """The logged-in customer's mailbox; anyone else's is as good as absent (404)."""
    mailbox: Mailbox = owned(db().get(Mailbox, mailbox_id), current_customer())
    return mailbox


def own_address(mailbox: Mailbox, address_id: str | int | None) -> Address:
    """One of the mailbox's addresses, by the id a form sent (404 for any other)."""
    found = next((address for address in mailbox.addresses
                  if str(address.id) == str(address_id)), None)
    if found is None:
        raise NotFound("not found")
    return found


def mailbox_page(template: str, mailbox: Mailbox, status: int = 200,
                 **context: Any) -> tuple[str, int]:
    return render_template(template, mailbox=mailbox, pages=MAILBOX_PAGES, tab=current_tab(),
                           mailboxes=current_customer().mailboxes, **context), status


def current_tab() -> str:
    """The tab of this request (also the other mailbox's link): its own endpoint, or for
    a form's target (e.g. filters.import_filters) the first tab of its blueprint."""
    endpoint = request.endpoint or ""
    tabs = [tab for tab, _ in MAILBOX_PAGES]
    if endpoint in tabs:
        return endpoint
    return next((tab for tab in tabs if tab.split(".")[0] == endpoint.split(".")[0]),
                tabs[0])


def change(mailbox: Mailbox, action: str, work: Callable[[], object], done: Any, /,
           **detail: Any) -> bool:
    """Run one change of the service layer; record it (same transaction) and say so, or
    show its refusal in the customer's language and keep nothing."""
    try:
        work()
    except MailbasicError as error:
        refused(error)
        return False
    audit.record(db(), actor(), current_customer(), action, mailbox=mailbox.name, **detail)
    flash(str(done), "success")
    return True


def again(endpoint: str, mailbox: Mailbox) -> Response:
    """After a change: the page again, by GET (a reload sends nothing twice)."""
    return redirect(url_for(endpoint, mailbox_id=mailbox.id))


def failed() -> int:
    """The status of a page shown again after a form was not accepted."""
    return 400 if request.method == "POST" else 200


@blueprint.route("/rules")
@login_required
def index() -> Any:
    return render_template("mailbox_index.html", mailboxes=current_customer().mailboxes,
                           pages=MAILBOX_PAGES[:6], title=lazy_gettext("Mail rules"))


# --- spam -----------------------------------------------------------------------------

SPAM_ACTIONS = (
    SelectChoice("tag", lazy_gettext("Mark it (headers only) and deliver it as usual")),
    SelectChoice("folder", lazy_gettext("Deliver it into the folder Spam")),
    SelectChoice("delete", lazy_gettext("Delete it")),
)


class SpamForm(FlaskForm):
    enabled = BooleanField(lazy_gettext("Look for spam"))
    threshold = DecimalField(lazy_gettext("Spam from a score of (5.0 suits most)"), places=1,
                             validators=[InputRequired()])
    action = SelectField(lazy_gettext("What happens to spam"), choices=SPAM_ACTIONS)


@blueprint.route("/mailboxes/<int:mailbox_id>/spam", methods=["GET", "POST"])
@login_required
def spam(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = SpamForm(data=service.describe(db(), mailbox.name)["spam"])
    if form.validate_on_submit():
        enabled, threshold = bool(form.enabled.data), float(form.threshold.data or 0)
        spam_action = form.action.data or ""
        if change(mailbox, "spam settings changed",
                  lambda: service.set_spam(db(), mailbox.name, enabled=enabled,
                                           threshold=threshold, action=spam_action),
                  lazy_gettext("The spam settings are saved."), enabled=enabled,
                  threshold=threshold, spam_action=spam_action):
            return again("rules.spam", mailbox)
    return mailbox_page("spam.html", mailbox, failed(), form=form)


# --- sender lists -----------------------------------------------------------------------

LISTS = (SelectChoice("whitelist", lazy_gettext("Always welcome (never spam)")),
         SelectChoice("blacklist", lazy_gettext("Always spam")))
LIST_NAMES = {choice.value: choice.label for choice in LISTS}


class SenderForm(FlaskForm):
    sender = StringField(lazy_gettext("Sender: name@domain, or @domain for all of a domain"),
                         validators=[DataRequired()])
    which = SelectField(lazy_gettext("List"), choices=LISTS)


class RemoveSenderForm(FlaskForm):
    sender = HiddenField(validators=[DataRequired()])


@blueprint.route("/mailboxes/<int:mailbox_id>/senders", methods=["GET", "POST"])
@login_required
def senders(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = SenderForm()
    if form.validate_on_submit():
        sender, which = form.sender.data or "", form.which.data or ""
        if change(mailbox, "sender listed",
                  lambda: service.add_sender(db(), mailbox.name, which, sender),
                  lazy_gettext("The sender is on the list."), sender=sender, list=which):
            return again("rules.senders", mailbox)
    return mailbox_page("senders.html", mailbox, failed(), form=form, lists=LIST_NAMES,
                        entries=service.list_senders(db(), mailbox.name))


@blueprint.route("/mailboxes/<int:mailbox_id>/senders/remove", methods=["POST"])
@login_required
def remove_sender(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = RemoveSenderForm()
    if form.validate_on_submit():
        sender = form.sender.data or ""
        change(mailbox, "sender unlisted",
               lambda: service.remove_sender(db(), mailbox.name, sender),
               lazy_gettext("The sender is off the list."), sender=sender)
    return again("rules.senders", mailbox)


# --- forwarding -------------------------------------------------------------------------

class ForwardForm(FlaskForm):
    address = SelectField(lazy_gettext("Mail to"))
    target = StringField(lazy_gettext("Forward to"), validators=[DataRequired()])
    keep_copy = BooleanField(lazy_gettext("Keep a copy in this mailbox"))


class RemoveForwardForm(FlaskForm):
    address = HiddenField(validators=[DataRequired()])


@blueprint.route("/mailboxes/<int:mailbox_id>/forwarding", methods=["GET", "POST"])
@login_required
def forwarding(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = ForwardForm()
    # Only this mailbox's addresses are choices: any other id is not accepted.
    form.address.choices = [SelectChoice(str(address.id), address.email)
                            for address in mailbox.addresses]
    if form.validate_on_submit():
        address = own_address(mailbox, form.address.data).email
        target, keep_copy = form.target.data or "", bool(form.keep_copy.data)
        if change(mailbox, "forward set",
                  lambda: service.set_forward(db(), address, target, keep_copy),
                  lazy_gettext("The forwarding is saved."), address=address, target=target,
                  keep_copy=keep_copy):
            return again("rules.forwarding", mailbox)
    forwards = service.describe(db(), mailbox.name)["forwards"]
    return mailbox_page("forwarding.html", mailbox, failed(), form=form, forwards=forwards)


@blueprint.route("/mailboxes/<int:mailbox_id>/forwarding/remove", methods=["POST"])
@login_required
def remove_forward(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = RemoveForwardForm()
    if form.validate_on_submit():
        address = own_address(mailbox, form.address.data).email
        change(mailbox, "forward removed", lambda: service.remove_forward(db(), address),
               lazy_gettext("The forwarding is removed."), address=address)
    return again("rules.forwarding", mailbox)


# --- vacation ---------------------------------------------------------------------------

class VacationForm(FlaskForm):
    first_day = DateField(lazy_gettext("First day"), validators=[InputRequired()])
    last_day = DateField(lazy_gettext("Last day"), validators=[InputRequired()])
    subject = StringField(lazy_gettext("Subject (empty: \"Auto:\" and the original subject)"),
                          validators=[Optional()])
    text = TextAreaField(lazy_gettext("Text"), validators=[DataRequired()])
    interval_days = IntegerField(lazy_gettext("Days between two replies to one sender"),
                                 default=7, validators=[InputRequired()])


@blueprint.route("/mailboxes/<int:mailbox_id>/vacation", methods=["GET", "POST"])
@login_required
def vacation(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    current = service.describe(db(), mailbox.name)["vacation"]
    form = VacationForm(data=_vacation_data(current))
    if form.validate_on_submit():
        first, last = form.first_day.data, form.last_day.data
        assert first is not None and last is not None  # InputRequired
        subject, text = form.subject.data or "", form.text.data or ""
        interval = form.interval_days.data or 0
        if change(mailbox, "vacation set",
                  lambda: service.set_vacation(db(), mailbox.name, first, last, subject,
                                               text, interval),
                  lazy_gettext("The vacation reply is saved."), first_day=first.isoformat(),
                  last_day=last.isoformat(), subject=subject, interval_days=interval):
            return again("rules.vacation", mailbox)
    return mailbox_page("vacation.html", mailbox, failed(), form=form, current=current,
                        remove=FlaskForm())


def _vacation_data(current: dict[str, Any] | None) -> dict[str, Any] | None:
    if current is None:
        return None
    return {"first_day": date.fromisoformat(current["from"]),
            "last_day": date.fromisoformat(current["until"]), "subject": current["subject"],
            "text": current["text"], "interval_days": current["interval_days"]}


@blueprint.route("/mailboxes/<int:mailbox_id>/vacation/remove", methods=["POST"])
@login_required
def remove_vacation(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    if FlaskForm().validate_on_submit():
        change(mailbox, "vacation removed", lambda: service.clear_vacation(db(), mailbox.name),
               lazy_gettext("The vacation reply is removed."))
    return again("rules.vacation", mailbox)
