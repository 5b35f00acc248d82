"""What every customer page needs: the logged-in customer, the read-only support view,
refusals shown in the customer's language, the audit actor."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext

from mailbasic import audit
from mailbasic.accounts import customer_suspended
from mailbasic.errors import Detail, MailbasicError, NotFound
from mailbasic.portal.app import db, rollback_request
from mailbasic.portal.credentials import session_epoch
from mailbasic.schema import Customer

View = TypeVar("View", bound=Callable[..., Any])


def client_address() -> str:
    """nginx is the only client of the portal's socket and sets X-Real-IP."""
    return request.headers.get("X-Real-IP") or request.remote_addr or "unknown"


def current_customer() -> Customer:
    """The logged-in customer, checked once per request."""
    if "customer" not in g:
        g.customer = _checked_customer()
    found: Customer = g.customer
    return found


def _checked_customer() -> Customer:
    customer_id = session.get("customer_id")
    if customer_id is None:
        abort(401)
    customer = db().get(Customer, customer_id)
    if customer is None or session.get("epoch") != session_epoch(db(), customer.id):
        session.clear()   # deleted, or logged out everywhere by a password change
        abort(401)
    if not session.get("support") and customer_suspended(db(), customer.id):
        session.clear()   # the provider suspended a mailbox: the customer's logins stop
        flash(gettext("Your access is suspended: please contact your provider."), "error")
        abort(401)
    return customer


def actor() -> audit.Actor:
    customer = current_customer()
    if session.get("support"):
        return audit.Actor(f"support {session['support']} (read-only)", client_address())
    return audit.Actor(f"customer {customer.name}", client_address())


def login_required(view: View) -> View:
    """Customer pages: a login (or a support link); changes only by the customer."""
    @functools.wraps(view)
    def guarded(*arguments: Any, **keywords: Any) -> Any:
        if session.get("customer_id") is None:
            return redirect(url_for("auth.login", next=request.path))
        if request.method == "POST" and session.get("support"):
            abort(403)    # support staff see, never change
        current_customer()   # still there, still logged in, not suspended
        return view(*arguments, **keywords)
    return guarded  # type: ignore[return-value]  # same signature as view


def refused(error: MailbasicError) -> None:
    """Show the service layer's refusal and keep nothing of the request."""
    rollback_request()
    flash(translated(error), "error")


def translated(error: MailbasicError) -> str:
    """The refusal in the customer's language: the catalogues hold the service layer's
    message templates (mailbasic/portal/translations), filled in afterwards."""
    return _translated(error.template, error.values)


def _translated(template: str, values: Mapping[str, object]) -> str:
    """A value that is a Detail (a template of its own, e.g. the Sieve reader's refusal
    in "line {line}: {detail}") is translated the same way before it is filled in."""
    text = str(gettext(template))
    if not values:
        return text
    return text.format(**{name: _translated(value.template, value.values)
                          if isinstance(value, Detail) else value
                          for name, value in values.items()})


def owned(found: Any, customer: Customer) -> Any:
    """Another customer's object is as good as absent: 404, never 403."""
    if found is None or getattr(found, "customer_id", customer.id) != customer.id:
        raise NotFound("not found")
    return found
