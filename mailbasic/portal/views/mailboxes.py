"""Mailboxes and their addresses: add, remove, move between the customer's mailboxes,
reactivate one switched off for inactivity; quota usage and the last IMAP/POP3 logins.

The account rules (1 primary + 5 addresses, the address syntax, held addresses) and
their refusals are accounts.py's, the same as the CLI's; ids in URLs and forms are looked
up among the customer's own mailboxes only, anything else is a 404.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from mailbasic import accounts, audit
from mailbasic.errors import MailbasicError, NotFound
from mailbasic.portal.app import db, settings_of
from mailbasic.portal.views.common import actor, current_customer, login_required, owned, refused
from mailbasic.schema import MAX_ADDRESSES, Address, Mailbox, QuotaUsage, ReceivingState

blueprint = Blueprint("mailboxes", __name__)

# The reason the inactivity job (jobs/inactivity.py) writes: only such a switch-off is the
# customer's to undo; one by customer service (abuse, unpaid bills) stays theirs.
_INACTIVITY = re.compile(r"no download for (\d+) days")


class AddressForm(FlaskForm):
    address = StringField(lazy_gettext("New address (name@domain)"),
                          validators=[DataRequired(), Length(max=254)])


class MoveForm(FlaskForm):
    # Checked against the customer's own mailboxes by lookup (another's: 404), not by
    # the choices, which only build the menu.
    target = SelectField(lazy_gettext("Move to"), coerce=int, validate_choice=False,
                         validators=[InputRequired()])


class ConfirmForm(FlaskForm):
    """A button: its CSRF token (checked by CSRFProtect for every POST) is the whole
    form."""


# -- presentation ---------------------------------------------------------------------

def when(moment: datetime | None) -> str:
    """A time in the customer's language, in the server's time zone."""
    if moment is None:
        return str(gettext("never"))
    return format_datetime(moment.astimezone(), "medium", locale=str(get_locale()))


def mebibytes(size: int) -> str:
    return format_decimal(size / 1048576, "#,##0.0", locale=str(get_locale()))


def inactive_days(mailbox: Mailbox) -> int | None:
    """Switched off by the inactivity job after so many days without a download."""
    found = _INACTIVITY.fullmatch(mailbox.deactivated_reason or "")
    if mailbox.receiving_state is not ReceivingState.DEACTIVATED or found is None:
        return None
    return int(found.group(1))


def usage(mailbox: Mailbox) -> dict[str, Any]:
    """Dovecot's quota usage, kept under the mailbox's login (its primary address)."""
    row = db().get(QuotaUsage, mailbox.name.lower())
    used = row.bytes if row else 0
    return {"used": mebibytes(used), "quota": mebibytes(mailbox.quota_bytes),
            "percent": min(100, round(100 * used / mailbox.quota_bytes))
            if mailbox.quota_bytes else 0,
            "messages": row.messages if row else 0}


def mailbox_view(mailbox: Mailbox) -> dict[str, Any]:
    return {"id": mailbox.id, "name": mailbox.name,
            "active": mailbox.receiving_state is ReceivingState.ACTIVE,
            "inactive_days": inactive_days(mailbox),
            "deactivated_at": when(mailbox.deactivated_at),
            "usage": usage(mailbox), "last_imap": when(mailbox.last_imap_login_at),
            "last_pop3": when(mailbox.last_pop3_login_at),
            "last_webmail": when(mailbox.last_webmail_login_at),
            "addresses": mailbox.addresses, "domain": mailbox.primary_address.domain.name}


# -- lookups: the customer's own, or 404 -----------------------------------------------

def own_mailbox(mailbox_id: int) -> Mailbox:
    found: Mailbox = owned(db().get(Mailbox, mailbox_id), current_customer())
    return found


def own_address(mailbox: Mailbox, address_id: int) -> Address:
    found = db().get(Address, address_id)
    if found is None or found.mailbox_id != mailbox.id:
        raise NotFound("not found")
    return found


# -- pages ------------------------------------------------------------------------------

@blueprint.route("/mailboxes")
@login_required
def index() -> Any:
    customer = current_customer()
    return render_template("mailboxes.html", customer=customer,
                           mailboxes=[mailbox_view(mailbox) for mailbox in customer.mailboxes])


@blueprint.route("/mailboxes/<int:mailbox_id>")
@login_required
def mailbox(mailbox_id: int) -> Any:
    return page(own_mailbox(mailbox_id))


def page(mailbox: Mailbox, add_form: AddressForm | None = None, status: int = 200) -> Any:
    others = [other for other in current_customer().mailboxes if other.id != mailbox.id]
    move_form = MoveForm(formdata=None)
    move_form.target.choices = [(other.id, other.name) for other in others]
    return render_template("mailbox.html", view=mailbox_view(mailbox),
                           add_form=add_form or AddressForm(formdata=None),
                           move_form=move_form, confirm=ConfirmForm(formdata=None),
                           more_addresses=MAX_ADDRESSES - 1), status


def back_to(mailbox: Mailbox) -> Response:
    return redirect(url_for("mailboxes.mailbox", mailbox_id=mailbox.id))


@blueprint.route("/mailboxes/<int:mailbox_id>/addresses", methods=["POST"])
@login_required
def add_address(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    form = AddressForm()
    if not form.validate_on_submit():
        return page(mailbox, form, 400)
    try:
        added = accounts.add_address(db(), settings_of(), form.address.data or "",
                                     mailbox.name)
    except MailbasicError as error:
        refused(error)
        return page(mailbox, form, 400)
    audit.record(db(), actor(), current_customer(), "address added", address=added.email,
                 mailbox=mailbox.name)
    flash(gettext("%(address)s now reaches this mailbox.", address=added.email), "success")
    return back_to(mailbox)


@blueprint.route("/mailboxes/<int:mailbox_id>/addresses/<int:address_id>/remove",
                 methods=["POST"])
@login_required
def remove_address(mailbox_id: int, address_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    address = own_address(mailbox, address_id).email
    try:
        accounts.remove_address(db(), address)
    except MailbasicError as error:
        refused(error)
        return page(mailbox, status=400)
    audit.record(db(), actor(), current_customer(), "address removed", address=address,
                 mailbox=mailbox.name)
    flash(gettext("%(address)s is removed.", address=address), "success")
    return back_to(mailbox)


@blueprint.route("/mailboxes/<int:mailbox_id>/addresses/<int:address_id>/move",
                 methods=["POST"])
@login_required
def move_address(mailbox_id: int, address_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    address = own_address(mailbox, address_id).email
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    target = own_mailbox(form.target.data)
    try:
        accounts.move_address(db(), address, target.name)
    except MailbasicError as error:
        refused(error)
        return page(mailbox, status=400)
    audit.record(db(), actor(), current_customer(), "address moved", address=address,
                 mailbox=target.name, previous_mailbox=mailbox.name)
    flash(gettext("%(address)s now reaches %(mailbox)s.", address=address,
                  mailbox=target.name), "success")
    return back_to(target)


@blueprint.route("/mailboxes/<int:mailbox_id>/reactivate", methods=["POST"])
@login_required
def reactivate(mailbox_id: int) -> Any:
    mailbox = own_mailbox(mailbox_id)
    if mailbox.receiving_state is ReceivingState.DEACTIVATED and inactive_days(mailbox) is None:
        flash(gettext("Customer service switched this mailbox off; please contact them."),
              "error")
        return page(mailbox, status=403)
    try:
        accounts.reactivate(db(), mailbox.name)
    except MailbasicError as error:
        refused(error)
        return page(mailbox, status=400)
    audit.record(db(), actor(), current_customer(), "mailbox reactivated",
                 mailbox=mailbox.name)
    flash(gettext("%(mailbox)s receives mail again.", mailbox=mailbox.name), "success")
    return back_to(mailbox)
