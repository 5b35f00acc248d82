"""Logging in and out: customer name and password, then the second factor if set; the
invitation link (set the first password); the support link (read-only view); the
language switch."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from mailbasic import audit
from mailbasic.accounts import get_customer
from mailbasic.errors import InvalidInput, MailbasicError, NotFound
from mailbasic.portal import credentials, throttle
from mailbasic.portal.app import LANGUAGES, db, settings_of
from mailbasic.portal.views.common import client_address, refused
from mailbasic.schema import Customer

blueprint = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    name = StringField(lazy_gettext("Customer name"), validators=[DataRequired()])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])


class CodeForm(FlaskForm):
    code = StringField(lazy_gettext("Code from your app, or a recovery code"),
                       validators=[DataRequired()])


class NewPasswordForm(FlaskForm):
    password = PasswordField(lazy_gettext("New password"),
                             validators=[DataRequired(), Length(min=12, max=200)])
    repeat = PasswordField(lazy_gettext("Repeat it"),
                           validators=[EqualTo("password", lazy_gettext(
                               "The two passwords differ."))])


class LanguageForm(FlaskForm):
    language = HiddenField()
    next = HiddenField()


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("login.html", form=form)
    name, client = (form.name.data or "").strip().lower(), client_address()
    if _held_back(name, client):
        return render_template("login.html", form=form), 429
    customer = _customer_named(name)
    if not credentials.check_password(db(), settings_of(), customer, form.password.data or ""):
        throttle.failed(db(), settings_of(), name, client)
        flash(gettext("Customer name or password is wrong."), "error")
        return render_template("login.html", form=form), 401
    assert customer is not None  # check_password is False without one
    fresh_session()
    if credentials.has_second_factor(db(), customer):
        session["pending_customer_id"] = customer.id
        return redirect(url_for("auth.second_factor"))
    throttle.succeeded(db(), settings_of(), name, client)
    return _logged_in(customer)


def _held_back(name: str, client: str) -> bool:
    """The brute-force defence's answer, flashed: blocked for now, or wait a little."""
    verdict = throttle.check(db(), settings_of(), name, client)
    if verdict.until is not None:
        until = verdict.until.astimezone(UTC).strftime("%H:%M")
        flash(gettext("Too many wrong passwords. Please try again after %(time)s UTC.",
                      time=until), "error")
    elif verdict.status > 0:
        flash(gettext("Too many wrong passwords. Please wait %(seconds)d seconds.",
                      seconds=verdict.status), "error")
    return verdict.status != 0


@blueprint.route("/login/code", methods=["GET", "POST"])
def second_factor() -> Any:
    customer_id = session.get("pending_customer_id")
    if customer_id is None:
        return redirect(url_for("auth.login"))
    customer = db().get_one(Customer, customer_id)
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("code.html", form=form)
    client = client_address()
    if _held_back(customer.name, client):
        return render_template("code.html", form=form), 429
    if not credentials.check_second_factor(db(), customer, form.code.data or ""):
        throttle.failed(db(), settings_of(), customer.name, client)
        flash(gettext("The code is not right."), "error")
        return render_template("code.html", form=form), 401
    throttle.succeeded(db(), settings_of(), customer.name, client)
    return _logged_in(customer)


def _logged_in(customer: Customer) -> Response:
    fresh_session()   # a new session for the logged-in customer: no fixation
    session.permanent = True
    session["customer_id"] = customer.id
    session["epoch"] = credentials.session_epoch(db(), customer.id)
    audit.record(db(), audit.Actor(f"customer {customer.name}", client_address()), customer,
                 "login")
    return redirect(url_for("account.overview"))


def fresh_session() -> None:
    """Everything of the old session goes but the language the visitor chose."""
    language = session.get("language")
    session.clear()
    if language in LANGUAGES:
        session["language"] = language


def _customer_named(name: str) -> Customer | None:
    try:
        return get_customer(db(), name)
    except (NotFound, InvalidInput):
        return None


@blueprint.route("/logout", methods=["POST"])
def logout() -> Response:
    fresh_session()
    return redirect(url_for("auth.login"))


@blueprint.route("/invite/<token>", methods=["GET", "POST"])
def invite(token: str) -> Any:
    try:
        customer, row = credentials.redeem_link(db(), token, "invite")
    except NotFound:
        abort(404)
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return render_template("invite.html", form=form, customer=customer)
    actor = audit.Actor(f"customer {customer.name} (invitation)", client_address())
    try:
        credentials.set_password(db(), settings_of(), actor, customer.name,
                                 form.password.data or "")
    except MailbasicError as error:
        refused(error)
        return render_template("invite.html", form=form, customer=customer), 400
    credentials.use_link(row)
    return _logged_in(customer)


@blueprint.route("/support/<token>")
def support(token: str) -> Response:
    try:
        customer, row = credentials.redeem_link(db(), token, "support")
    except NotFound:
        abort(404)
    fresh_session()
    session["customer_id"] = customer.id
    session["epoch"] = credentials.session_epoch(db(), customer.id)
    session["support"] = row.created_by
    audit.record(db(), audit.Actor(f"support {row.created_by} (read-only)",
                                   client_address()), customer, "support view opened")
    return redirect(url_for("account.overview"))


@blueprint.route("/language", methods=["POST"])
def language() -> Response:
    form = LanguageForm()
    if form.validate_on_submit() and form.language.data in LANGUAGES:
        session["language"] = form.language.data
    target = form.next.data or ""
    # Only a path of this site: never an open redirect.
    return redirect(target if target.startswith("/") and not target.startswith("//")
                    else url_for("auth.login"))
