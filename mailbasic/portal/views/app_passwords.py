"""A mailbox's app passwords: the list with each one's protocols and last use, a form that
makes one and shows it on the answer page only (never in a URL, the session or a later
page), and revocation. The rules and refusals are mailbasic/app_passwords.py's, as the
CLI's; another customer's mailbox or app password is a 404."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, flash
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than types-WTForms
from wtforms.validators import DataRequired

from mailbasic import app_passwords, audit
from mailbasic.errors import MailbasicError
from mailbasic.portal.app import db, settings_of
from mailbasic.portal.views.common import actor, current_customer, login_required, refused
from mailbasic.portal.views.mailboxes import when
from mailbasic.portal.views.rules import again, failed, mailbox_page, own_mailbox
from mailbasic.schema import Mailbox

blueprint = Blueprint("app_passwords", __name__)

PROTOCOLS = (
    SelectChoice("imap", lazy_gettext("IMAP (reading mail)")),
    SelectChoice("pop3", lazy_gettext("POP3 (fetching mail)")),
    SelectChoice("smtp", lazy_gettext("SMTP (sending mail)")),
)
PROTOCOL_NAMES = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}


class Checkboxes(SelectMultipleField):
    """Several choices as checkboxes, not a multiple select box."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class AppPasswordForm(FlaskForm):
    name = StringField(lazy_gettext("Name, e.g. the device it is for"),
                       validators=[DataRequired()])
    # The service layer checks the choice (its refusal is translated).
    protocols = Checkboxes(lazy_gettext("It may log in with"), choices=PROTOCOLS,
                           validate_choice=False)


@blueprint.route("/mailboxes/<int:mailbox_id>/app-passwords", methods=["GET", "POST"],
                 endpoint="app_passwords")
@login_required
def app_passwords_page(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = AppPasswordForm()
    created = None
    if form.validate_on_submit():
        created = create(mailbox, form.name.data or "", form.protocols.data or [])
        if created is not None:
            form = AppPasswordForm(formdata=None)
    return mailbox_page("app_passwords.html", mailbox, 200 if created else failed(),
                        form=form, created=created, listed=listed(mailbox),
                        revoke_form=FlaskForm(formdata=None))


def create(mailbox: Mailbox, name: str, protocols: list[str]) -> dict[str, str] | None:
    """Make the app password and record it (never the password itself); the name and the
    password to show on this one page, or None after a refusal (shown)."""
    try:
        password = app_passwords.create(db(), mailbox, name, protocols)
    except MailbasicError as error:
        refused(error)
        return None
    name = app_passwords.valid_name(name)
    audit.record(db(), actor(), current_customer(), "app password created",
                 mailbox=mailbox.name, name=name,
                 protocols=app_passwords.valid_protocols(protocols))
    flash(gettext("The app password %(name)s is made.", name=name), "success")
    return {"name": name, "password": password}


def listed(mailbox: Mailbox) -> list[dict[str, Any]]:
    return [{"id": found.id, "name": found.name,
             "protocols": ", ".join(PROTOCOL_NAMES[protocol] for protocol in found.protocols),
             "created": when(found.created_at), "last_used": when(found.last_used_at)}
            for found in app_passwords.list_for(db(), mailbox)]


@blueprint.route("/mailboxes/<int:mailbox_id>/app-passwords/<int:app_password_id>/revoke",
                 methods=["POST"])
@login_required
def revoke(mailbox_id: int, app_password_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    if FlaskForm().validate_on_submit():
        # Another mailbox's id is NotFound: a 404, as for any other customer's id.
        name = app_passwords.revoke(db(), mailbox, app_password_id).name
        audit.record(db(), actor(), current_customer(), "app password revoked",
                     mailbox=mailbox.name, name=name)
        tell_dovecot([app_passwords.login_of(mailbox)])
        flash(gettext("The app password %(name)s is revoked: it no longer logs in.",
                      name=name), "success")
    return again("app_passwords.app_passwords", mailbox)


def tell_dovecot(logins: Iterable[str]) -> None:
    """Commit the change first (Dovecot would otherwise read the old state again), then
    have Dovecot forget the logins' cached successes. If it cannot be told, the change
    still stands: the customer is warned that a device may log in for a while yet."""
    db().commit()
    if app_passwords.tell_dovecot(settings_of(), logins):
        flash(gettext("Saved, but the mail server could not be told at once: a device may "
                      "still log in as before for a while."), "warning")
