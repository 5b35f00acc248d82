"""The portal's pages, one blueprint per group; the menu's order is data."""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, render_template, request, url_for
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from mailbasic.errors import NotFound
from mailbasic.portal.views import (
    account,
    app_passwords,
    auth,
    autoconfig,
    dry_run,
    filters,
    mail_log,
    mailboxes,
    rules,
    security,
    services,
)

BLUEPRINTS = (auth.blueprint, account.blueprint, mailboxes.blueprint, security.blueprint,
              mail_log.blueprint, rules.blueprint, filters.blueprint, dry_run.blueprint,
              services.blueprint, app_passwords.blueprint,
              autoconfig.blueprint)
MENU: tuple[tuple[str, Any], ...] = (
    ("account.overview", lazy_gettext("Overview")),
    ("mailboxes.index", lazy_gettext("Mailboxes")),
    ("rules.index", lazy_gettext("Mail rules")),
    ("services.index", lazy_gettext("SMS, collection, fax")),
    ("mail_log.index", lazy_gettext("Where did my mail go?")),
    ("security.index", lazy_gettext("Passwords and security")),
    ("account.audit_log", lazy_gettext("Changes")),
)
_ERRORS = {
    400: (lazy_gettext("Not accepted"),
          lazy_gettext("The form was not accepted. Please load the page again.")),
    403: (lazy_gettext("Not allowed"), lazy_gettext("This cannot be changed from here.")),
    404: (lazy_gettext("Not found"), lazy_gettext("There is nothing here.")),
    405: (lazy_gettext("Not allowed"), lazy_gettext("This cannot be done here.")),
    413: (lazy_gettext("Too large"), lazy_gettext("What you sent is too large.")),
}


def register(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.context_processor(lambda: {"menu": MENU})
    app.register_error_handler(CSRFError, lambda error: error_page(400))
    app.register_error_handler(NotFound, lambda error: error_page(404))
    app.register_error_handler(HTTPException, http_error)


def http_error(error: HTTPException) -> Any:
    if error.code == 401:   # not (or no longer) logged in
        return redirect(url_for("auth.login", next=request.path))
    return error_page(error.code or 500)


def error_page(code: int) -> Any:
    title, text = _ERRORS.get(code, (lazy_gettext("Error"), lazy_gettext("Please try again.")))
    return render_template("error.html", title=title, text=text), code
