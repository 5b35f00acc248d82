"""The overview: the customer's mailboxes with their quota usage and last logins, and
the customer's own audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from mailbasic import audit
from mailbasic.portal.app import db
from mailbasic.portal.views.common import current_customer, login_required

blueprint = Blueprint("account", __name__)


@blueprint.route("/")
@login_required
def overview() -> Any:
    customer = current_customer()
    return render_template("overview.html", customer=customer,
                           mailboxes=customer.mailboxes)


@blueprint.route("/audit")
@login_required
def audit_log() -> Any:
    customer = current_customer()
    events = [audit.view(event) for event in audit.search(db(), customer=customer)]
    return render_template("audit.html", customer=customer, events=events)
