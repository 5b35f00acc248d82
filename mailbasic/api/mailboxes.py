"""/mailboxes/MAILBOX: show a mailbox, its password, quota, deactivation and
reactivation, suspension of its logins and their protocols, and its addresses. A mailbox
is named by its primary address."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from mailbasic import accounts, audit
from mailbasic.api.common import Blueprint, actor, db, requires, settings_of
from mailbasic.api.schemas import AddressSchema, MailboxSchema, Password, Size, Text
from mailbasic.cli.views import address_view, mailbox_view

blueprint = Blueprint("mailboxes", __name__, url_prefix="/mailboxes",
                      description="Mailboxes, named by their primary address.")


class Quota(ma.Schema):
    quota = Size(required=True, metadata={"description": "bytes, or e.g. \"1G\", \"500M\""})


class Deactivation(ma.Schema):
    reason = Text(load_default=None, allow_none=True,
                  metadata={"description": "why; shown to customer service"})


class Suspension(ma.Schema):
    reason = Text(load_default=None, allow_none=True,
                  metadata={"description": "why; shown to the customer at a refused login"})


class Access(ma.Schema):
    imap = ma.fields.Boolean()
    pop3 = ma.fields.Boolean()
    smtp = ma.fields.Boolean()
    webmail = ma.fields.Boolean()


class NewAddress(ma.Schema):
    address = Text(required=True, metadata={"example": "info@example.net"})


@blueprint.route("/<mailbox>", methods=["GET"])
@requires("mailboxes:read")
@blueprint.response(200, MailboxSchema)
def show_mailbox(mailbox: str) -> Any:
    """Show a mailbox: quota, receiving state, last logins, addresses"""
    return mailbox_view(accounts.get_mailbox(db(), mailbox))


@blueprint.route("/<mailbox>/password", methods=["PUT"])
@requires("mailboxes:write")
@blueprint.arguments(Password)
@blueprint.response(204)
def set_password(data: dict[str, Any], mailbox: str) -> None:
    """Set the mailbox's password (its IMAP, POP3 and SMTP login)"""
    accounts.set_password(db(), settings_of(), mailbox, data["password"])
    _audit(mailbox, "mailbox password set")


@blueprint.route("/<mailbox>/quota", methods=["PUT"])
@requires("mailboxes:write")
@blueprint.arguments(Quota)
@blueprint.response(200, MailboxSchema)
def set_quota(data: dict[str, Any], mailbox: str) -> Any:
    """Set the mailbox's storage quota"""
    found = accounts.set_quota(db(), mailbox, data["quota"])
    _audit(mailbox, "quota set", quota_bytes=found.quota_bytes)
    return mailbox_view(found)


@blueprint.route("/<mailbox>/deactivate", methods=["POST"])
@requires("mailboxes:write")
@blueprint.arguments(Deactivation, required=False)
@blueprint.response(200, MailboxSchema)
def deactivate(data: dict[str, Any], mailbox: str) -> Any:
    """Stop the mailbox from receiving mail (senders get a refusal)"""
    found = accounts.deactivate(db(), mailbox, data["reason"])
    _audit(mailbox, "mailbox deactivated", reason=data["reason"])
    return mailbox_view(found)


@blueprint.route("/<mailbox>/reactivate", methods=["POST"])
@requires("mailboxes:write")
@blueprint.response(200, MailboxSchema)
def reactivate(mailbox: str) -> Any:
    """Let the mailbox receive mail again"""
    found = accounts.reactivate(db(), mailbox)
    _audit(mailbox, "mailbox reactivated")
    return mailbox_view(found)


@blueprint.route("/<mailbox>/suspend", methods=["POST"])
@requires("mailboxes:write")
@blueprint.arguments(Suspension, required=False)
@blueprint.response(200, MailboxSchema)
def suspend(data: dict[str, Any], mailbox: str) -> Any:
    """Block every login of the mailbox (mail still arrives); open sessions are closed"""
    found = accounts.suspend(db(), settings_of(), mailbox, data["reason"])
    _audit(mailbox, "mailbox suspended", reason=found.suspended_reason)
    return mailbox_view(found)


@blueprint.route("/<mailbox>/resume", methods=["POST"])
@requires("mailboxes:write")
@blueprint.response(200, MailboxSchema)
def resume(mailbox: str) -> Any:
    """Let the mailbox log in again after a suspension"""
    found = accounts.resume(db(), settings_of(), mailbox)
    _audit(mailbox, "mailbox resumed")
    return mailbox_view(found)


@blueprint.route("/<mailbox>/access", methods=["PATCH"])
@requires("mailboxes:write")
@blueprint.arguments(Access)
@blueprint.response(200, MailboxSchema)
def set_access(data: dict[str, Any], mailbox: str) -> Any:
    """Allow (true) or deny (false) each protocol for the mailbox's logins"""
    found = accounts.set_access(db(), settings_of(), mailbox, data)
    _audit(mailbox, "login protocols set", **data)
    return mailbox_view(found)


@blueprint.route("/<mailbox>/addresses", methods=["GET"])
@requires("mailboxes:read")
@blueprint.response(200, AddressSchema(many=True))
def list_addresses(mailbox: str) -> Any:
    """List the mailbox's addresses (1 primary + up to 5 more)"""
    return [address_view(address) for address in accounts.list_addresses(db(), mailbox)]


@blueprint.route("/<mailbox>/addresses", methods=["POST"])
@requires("mailboxes:write")
@blueprint.arguments(NewAddress)
@blueprint.response(201, AddressSchema)
def add_address(data: dict[str, Any], mailbox: str) -> Any:
    """Add an address to the mailbox"""
    added = accounts.add_address(db(), settings_of(), data["address"], mailbox)
    _audit(mailbox, "address added", address=added.email)
    return address_view(added)


def _audit(mailbox: str, action: str, **detail: Any) -> None:
    found = accounts.get_mailbox(db(), mailbox)
    audit.record(db(), actor(), found.customer, action, mailbox=found.name, **detail)
