"""A mailbox's services: SMS notifications (phone and rules), POP3 collection accounts
(with the collection's own refusals: public POP3 servers only), fax numbers and their
format. Rules, accounts and numbers are named in URLs by id: another mailbox's is a 404."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than types-WTForms
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mailbasic.collect import service as collect
from mailbasic.fax import service as fax
from mailbasic.portal.app import db, settings_of
from mailbasic.portal.views.common import current_customer, login_required
from mailbasic.portal.views.rules import (
    MAILBOX_PAGES,
    again,
    change,
    failed,
    mailbox_page,
    own_mailbox,
)
from mailbasic.schema import CollectAccount, FaxNumber, Mailbox, Security, SmsRule, SmsRuleKind
from mailbasic.schema.fax import FaxFormat
from mailbasic.sms import service as sms

blueprint = Blueprint("services", __name__)


@blueprint.route("/services")
@login_required
def index() -> Any:
    return render_template("mailbox_index.html", mailboxes=current_customer().mailboxes,
                           pages=MAILBOX_PAGES[6:9], title=lazy_gettext("SMS, collection, fax"))


def own_row(row: Any, mailbox: Mailbox) -> Any:
    """A row of this mailbox (an SMS rule, a collection account, a fax number)."""
    if row is None or row.mailbox_id != mailbox.id:
        abort(404)
    return row


# --- SMS --------------------------------------------------------------------------------------

SMS_KINDS = (
    SelectChoice(SmsRuleKind.SENDER.value,
                 lazy_gettext("mail from this sender (name@domain or @domain)")),
    SelectChoice(SmsRuleKind.SUBJECT.value,
                 lazy_gettext("mail with this word in the subject")),
    SelectChoice(SmsRuleKind.HIGH_PRIORITY.value, lazy_gettext("urgent mail (high priority)")),
    SelectChoice(SmsRuleKind.FAX.value, lazy_gettext("a fax")),
)
SMS_KIND_NAMES = {choice.value: choice.label for choice in SMS_KINDS}


class PhoneForm(FlaskForm):
    phone = StringField(lazy_gettext("Mobile number, e.g. +49 170 1234567"),
                        validators=[DataRequired()])
    enabled = BooleanField(lazy_gettext("Send SMS"), default=True)


class SmsRuleForm(FlaskForm):
    kind = SelectField(lazy_gettext("An SMS for"), choices=SMS_KINDS)
    value = StringField(lazy_gettext("Sender or word"), validators=[Optional()])


@blueprint.route("/mailboxes/<int:mailbox_id>/sms", methods=["GET", "POST"], endpoint="sms")
@login_required
def sms_page(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    current = sms.describe(db(), mailbox.name)
    form = PhoneForm(data=current if current["phone"] else None)
    if form.validate_on_submit():
        phone, enabled = form.phone.data or "", bool(form.enabled.data)
        if change(mailbox, "sms phone set",
                  lambda: sms.set_phone(db(), mailbox.name, phone, enabled),
                  lazy_gettext("The SMS settings are saved."), phone=phone, enabled=enabled):
            return again("services.sms", mailbox)
    return _sms(mailbox, failed(), phone=form)


def _sms(mailbox: Mailbox, status: int, **forms: Any) -> Any:
    forms.setdefault("phone", PhoneForm())
    forms.setdefault("rule", SmsRuleForm())
    return mailbox_page("sms.html", mailbox, status, current=sms.describe(db(), mailbox.name),
                        kinds=SMS_KIND_NAMES, remove=FlaskForm(), **forms)


@blueprint.route("/mailboxes/<int:mailbox_id>/sms/rules", methods=["POST"])
@login_required
def add_sms_rule(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = SmsRuleForm()
    if form.validate_on_submit():
        kind = SmsRuleKind(form.kind.data)
        takes_value = kind in (SmsRuleKind.SENDER, SmsRuleKind.SUBJECT)
        value = (form.value.data or "") if takes_value else None
        if change(mailbox, "sms rule added",
                  lambda: sms.add_rule(db(), mailbox.name, kind, value),
                  lazy_gettext("The SMS rule is added."), kind=kind.value, value=value):
            return again("services.sms", mailbox)
    return _sms(mailbox, 400, rule=form)


@blueprint.route("/mailboxes/<int:mailbox_id>/sms/rules/<int:rule_id>/remove", methods=["POST"])
@login_required
def remove_sms_rule(mailbox_id: int, rule_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    rule = own_row(db().get(SmsRule, rule_id), mailbox)
    if FlaskForm().validate_on_submit():
        change(mailbox, "sms rule removed", lambda: sms.remove_rule(db(), mailbox.name, rule.id),
               lazy_gettext("The SMS rule is removed."), kind=rule.kind.value, value=rule.value)
    return again("services.sms", mailbox)


# --- POP3 collection ------------------------------------------------------------------------------

SECURITY = (
    SelectChoice(Security.TLS.value, lazy_gettext("TLS (port 995)")),
    SelectChoice(Security.STARTTLS.value, lazy_gettext("STARTTLS (port 110)")),
    SelectChoice(Security.PLAIN.value,
                 lazy_gettext("none: the password crosses the network readable")),
)


class CollectForm(FlaskForm):
    host = StringField(lazy_gettext("POP3 server"), validators=[DataRequired(), Length(max=253)])
    port = IntegerField(lazy_gettext("Port (empty: the usual one)"),
                        validators=[Optional(), NumberRange(min=1, max=65535)])
    security = SelectField(lazy_gettext("Encryption"), choices=SECURITY)
    username = StringField(lazy_gettext("User name"),
                           validators=[DataRequired(), Length(max=320)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])
    leave_on_server = BooleanField(lazy_gettext("Leave the mail on the server"), default=True)
    interval_minutes = IntegerField(lazy_gettext("Fetch every (minutes)"), default=15,
                                    validators=[DataRequired(), NumberRange(min=5, max=1440)])


@blueprint.route("/mailboxes/<int:mailbox_id>/collect", methods=["GET", "POST"],
                 endpoint="collect")
@login_required
def collect_page(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = CollectForm()
    if form.validate_on_submit():
        security, password = Security(form.security.data), form.password.data or ""
        account: dict[str, Any] = {
            "host": (form.host.data or "").strip(), "port": form.port.data,
            "username": form.username.data or "",
            "leave_on_server": bool(form.leave_on_server.data),
            "interval_minutes": form.interval_minutes.data or 15}
        if change(mailbox, "collection account added",
                  lambda: collect.add_account(db(), settings_of(), mailbox.name,
                                              security=security, password=password, **account),
                  lazy_gettext("The collection account is added."), security=security.value,
                  **account):
            return again("services.collect", mailbox)
    accounts = [collect.account_view(db(), row)
                for row in collect.list_accounts(db(), mailbox.name)]
    return mailbox_page("collect.html", mailbox, failed(), form=form, accounts=accounts,
                        remove=FlaskForm())


@blueprint.route("/mailboxes/<int:mailbox_id>/collect/<int:account_id>/remove",
                 methods=["POST"])
@login_required
def remove_collect_account(mailbox_id: int, account_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    account = own_row(db().get(CollectAccount, account_id), mailbox)
    if FlaskForm().validate_on_submit():
        change(mailbox, "collection account removed",
               lambda: collect.remove_account(db(), account.id),
               lazy_gettext("The collection account is removed."), host=account.host,
               port=account.port, username=account.username)
    return again("services.collect", mailbox)


# --- fax ---------------------------------------------------------------------------------------

FORMATS = (SelectChoice(FaxFormat.PDF.value, "PDF"),
           SelectChoice(FaxFormat.TIFF.value, "TIFF"))


class FaxForm(FlaskForm):
    number = StringField(lazy_gettext("Fax number"), validators=[DataRequired()])
    format = SelectField(lazy_gettext("Faxes arrive as"), choices=FORMATS)


@blueprint.route("/mailboxes/<int:mailbox_id>/fax", methods=["GET", "POST"], endpoint="fax")
@login_required
def fax_page(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = FaxForm()
    if form.validate_on_submit():
        number, chosen = form.number.data or "", form.format.data or "pdf"
        if change(mailbox, "fax number set",
                  lambda: fax.set_number(db(), mailbox.name, number, FaxFormat(chosen)),
                  lazy_gettext("The fax number is saved."), number=number, format=chosen):
            return again("services.fax", mailbox)
    numbers = db().scalars(select(FaxNumber).where(FaxNumber.mailbox_id == mailbox.id)
                           .order_by(FaxNumber.number))
    return mailbox_page("fax.html", mailbox, failed(), form=form, numbers=list(numbers),
                        remove=FlaskForm())


@blueprint.route("/mailboxes/<int:mailbox_id>/fax/<number>/remove", methods=["POST"])
@login_required
def remove_fax_number(mailbox_id: int, number: str) -> Any:
    mailbox = own_mailbox(mailbox_id)
    entry = own_row(db().get(FaxNumber, number), mailbox)
    if FlaskForm().validate_on_submit():
        change(mailbox, "fax number removed", lambda: fax.remove_number(db(), entry.number),
               lazy_gettext("The fax number is removed."), number=entry.number)
    return again("services.fax", mailbox)
