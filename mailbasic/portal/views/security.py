"""Passwords and the second factor: the portal password and each mailbox's password
(both only with the current one), TOTP set up (secret as text and otpauth URI, confirmed
by a code, recovery codes shown once) and turned off, new recovery codes; with TOTP on,
the switch that requires app passwords for IMAP, POP3 and SMTP."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from mailbasic import accounts, app_passwords, audit
from mailbasic.errors import MailbasicError
from mailbasic.passwords import MAX_BYTES, verify_password
from mailbasic.portal import credentials
from mailbasic.portal.app import db, settings_of
from mailbasic.portal.views.app_passwords import tell_dovecot
from mailbasic.portal.views.auth import NewPasswordForm
from mailbasic.portal.views.common import actor, current_customer, login_required, refused
from mailbasic.portal.views.mailboxes import own_mailbox

blueprint = Blueprint("security", __name__)
_PENDING = "totp_pending"   # the secret shown, until a code confirms it


def storable(form: FlaskForm, field: Field) -> None:
    """No stored password is longer (hash_password refuses it), and bcrypt refuses to
    check one that is: so it is simply not the current password."""
    if len((field.data or "").encode("utf-8")) > MAX_BYTES:
        raise ValidationError(gettext("The current password is not right."))


def current_field(label: Any = None) -> PasswordField:
    return PasswordField(label or lazy_gettext("Current password"),
                         validators=[DataRequired(), storable])


class PortalPasswordForm(NewPasswordForm):
    current = current_field()


class MailboxPasswordForm(FlaskForm):
    current = current_field(lazy_gettext("Current mailbox password"))
    password = PasswordField(lazy_gettext("New mailbox password"), validators=[DataRequired()])
    repeat = PasswordField(lazy_gettext("Repeat it"), validators=[EqualTo(
        "password", lazy_gettext("The two passwords differ."))])


class PasswordForm(FlaskForm):
    """The current portal password, for turning the second factor off and new codes."""

    current = current_field()


class AppPasswordsOnlyForm(FlaskForm):
    required = BooleanField(lazy_gettext("Require app passwords for IMAP, POP3 and SMTP"))


class CodeForm(FlaskForm):
    code = StringField(lazy_gettext("Code from your app"), validators=[DataRequired()])


def page(status: int = 200, key: str = "", failed: FlaskForm | None = None) -> Any:
    """The security page, each form under its own prefix; one that failed is shown as
    it was sent, with its errors."""
    customer = current_customer()
    app_passwords_only = app_passwords.app_passwords_only(db(), customer)
    forms: dict[str, FlaskForm] = {
        "portal": PortalPasswordForm(prefix="portal", formdata=None),
        "apponly": AppPasswordsOnlyForm(prefix="apponly", formdata=None,
                                        data={"required": app_passwords_only}),
        "off": PasswordForm(prefix="off", formdata=None),
        "codes": PasswordForm(prefix="codes", formdata=None),
        **{f"mailbox{mailbox.id}": MailboxPasswordForm(prefix=f"mailbox{mailbox.id}",
                                                       formdata=None)
           for mailbox in customer.mailboxes}}
    if failed is not None:
        forms[key] = failed
    return render_template("security.html", forms=forms, mailboxes=customer.mailboxes,
                           has_second_factor=credentials.has_second_factor(db(), customer),
                           app_passwords_only=app_passwords_only), status


@blueprint.route("/security")
@login_required
def index() -> Any:
    return page()


@blueprint.route("/security/password", methods=["POST"])
@login_required
def portal_password() -> Any:
    customer, form = current_customer(), PortalPasswordForm(prefix="portal")
    if not form.validate_on_submit():
        return page(400, "portal", form)
    try:
        credentials.change_password(db(), settings_of(), actor(), customer,
                                    form.current.data or "", form.password.data or "")
    except MailbasicError as error:
        refused(error)
        return page(400, "portal", form)
    # Every other session ends with the change; this one goes on.
    session["epoch"] = credentials.session_epoch(db(), customer.id)
    flash(gettext("Your portal password is changed. Other sessions are logged out."),
          "success")
    return redirect(url_for("security.index"))


@blueprint.route("/security/mailboxes/<int:mailbox_id>/password", methods=["POST"])
@login_required
def mailbox_password(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    key = f"mailbox{mailbox.id}"
    form = MailboxPasswordForm(prefix=key)
    if not form.validate_on_submit():
        return page(400, key, form)
    if not verify_password(form.current.data or "", mailbox.password_hash):
        flash(gettext("The current password of %(mailbox)s is not right.",
                      mailbox=mailbox.name), "error")
        return page(400, key, form)
    try:
        accounts.set_password(db(), settings_of(), mailbox.name, form.password.data or "")
    except MailbasicError as error:
        refused(error)
        return page(400, key, form)
    audit.record(db(), actor(), current_customer(), "mailbox password changed",
                 mailbox=mailbox.name)
    flash(gettext("The password of %(mailbox)s is changed.", mailbox=mailbox.name),
          "success")
    return redirect(url_for("security.index"))


@blueprint.route("/security/totp", methods=["GET", "POST"])
@login_required
def totp() -> Any:
    customer = current_customer()
    if session.get("support"):
        abort(403)    # not even the secret: it would be the customer's second factor
    if credentials.has_second_factor(db(), customer):
        return redirect(url_for("security.index"))
    secret = session.setdefault(_PENDING, credentials.new_totp_secret())
    form = CodeForm()
    if not form.validate_on_submit():
        return setup_page(secret, form)
    try:
        codes = credentials.enable_totp(db(), actor(), customer, secret, form.code.data or "")
    except MailbasicError as error:
        refused(error)
        return setup_page(secret, form, 400)
    session.pop(_PENDING, None)
    return render_template("totp.html", codes=codes)


def setup_page(secret: str, form: CodeForm, status: int = 200) -> Any:
    uri = credentials.totp_uri(secret, current_customer())
    grouped = " ".join(secret[at:at + 4] for at in range(0, len(secret), 4))
    return render_template("totp.html", secret=grouped, uri=uri, form=form), status


@blueprint.route("/security/totp/off", methods=["POST"])
@login_required
def totp_off() -> Any:
    customer, form = current_customer(), PasswordForm(prefix="off")
    if not checked(form):
        return page(400, "off", form)
    credentials.disable_totp(db(), actor(), customer)
    flash(gettext("The second factor is off: the password alone logs you in."), "success")
    return redirect(url_for("security.index"))


@blueprint.route("/security/recovery-codes", methods=["POST"])
@login_required
def recovery_codes() -> Any:
    customer, form = current_customer(), PasswordForm(prefix="codes")
    if not checked(form) or not credentials.has_second_factor(db(), customer):
        return page(400, "codes", form)
    codes = credentials.new_recovery_codes(db(), customer)
    audit.record(db(), actor(), customer, "recovery codes renewed")
    return render_template("totp.html", codes=codes)


def checked(form: PasswordForm) -> bool:
    """The form is valid and holds the current portal password."""
    if not form.validate_on_submit():
        return False
    if not credentials.check_password(db(), settings_of(), current_customer(),
                                      form.current.data or ""):
        flash(gettext("The current password is not right."), "error")
        return False
    return True


@blueprint.route("/security/app-passwords-only", methods=["POST"])
@login_required
def require_app_passwords() -> Any:
    """Turned on only with the second factor on (the service refuses it otherwise); off
    at any time."""
    customer, form = current_customer(), AppPasswordsOnlyForm(prefix="apponly")
    if not form.validate_on_submit():
        return page(400, "apponly", form)
    required = bool(form.required.data)
    try:
        logins = app_passwords.set_app_passwords_only(db(), customer, required)
    except MailbasicError as error:
        refused(error)
        return page(400, "apponly", form)
    audit.record(db(), actor(), customer, "app passwords required" if required
                 else "app passwords no longer required")
    tell_dovecot(logins)
    flash(gettext("Your mail programs now log in with app passwords only.") if required
          else gettext("Your mail programs may log in with the mailbox passwords again."),
          "success")
    return redirect(url_for("security.index"))
