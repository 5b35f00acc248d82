"""/customers: create, list, show and delete customers; their portal password; a
customer's further mailbox."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from mailbasic import accounts, audit
from mailbasic.api.common import Blueprint, actor, db, requires, settings_of
from mailbasic.api.schemas import CustomerSchema, MailboxSchema, Password, Text
from mailbasic.cli.views import customer_view, mailbox_view
from mailbasic.portal import credentials

blueprint = Blueprint("customers", __name__, url_prefix="/customers",
                      description="Customers, each with up to two mailboxes.")


class NewCustomer(ma.Schema):
    name = Text(required=True, metadata={"description": "also the first mailbox's "
                                                        "local part", "example": "alice"})
    domain = Text(required=True, metadata={"example": "example.net"})
    password = Text(required=True, load_only=True,
                    metadata={"description": "the first mailbox's password"})


class NewMailbox(ma.Schema):
    address = Text(required=True, metadata={"description": "its primary address"})
    password = Text(required=True, load_only=True)


@blueprint.route("", methods=["GET"])
@requires("customers:read")
@blueprint.response(200, CustomerSchema(many=True))
def list_customers() -> Any:
    """List the customers with their mailboxes"""
    return [customer_view(customer) for customer in accounts.list_customers(db())]


@blueprint.route("", methods=["POST"])
@requires("customers:write")
@blueprint.arguments(NewCustomer)
@blueprint.response(201, CustomerSchema)
def add_customer(data: dict[str, Any]) -> Any:
    """Create a customer and its first mailbox NAME@DOMAIN"""
    customer = accounts.add_customer(db(), settings_of(), data["name"], data["domain"],
                                     data["password"])
    audit.record(db(), actor(), customer, "customer added", mailbox=customer.mailboxes[0].name)
    return customer_view(customer)


@blueprint.route("/<name>", methods=["GET"])
@requires("customers:read")
@blueprint.response(200, CustomerSchema)
def show_customer(name: str) -> Any:
    """Show a customer with its mailboxes"""
    return customer_view(accounts.get_customer(db(), name))


@blueprint.route("/<name>", methods=["DELETE"])
@requires("customers:write")
@blueprint.response(204)
def delete_customer(name: str) -> None:
    """Delete a customer with its mailboxes and addresses (their mail on disk goes with
    the next `mailbasic jobs orphaned-mail`)"""
    customer = accounts.get_customer(db(), name)
    audit.record(db(), actor(), customer, "customer deleted", name=customer.name)
    accounts.delete_customer(db(), name)


@blueprint.route("/<name>/portal-password", methods=["PUT"])
@requires("customers:write")
@blueprint.arguments(Password)
@blueprint.response(204)
def set_portal_password(data: dict[str, Any], name: str) -> None:
    """Set the customer's portal password (their other portal sessions end)"""
    credentials.set_password(db(), settings_of(), actor(), name, data["password"])


@blueprint.route("/<name>/mailboxes", methods=["POST"])
@requires("mailboxes:write")
@blueprint.arguments(NewMailbox)
@blueprint.response(201, MailboxSchema)
def add_mailbox(data: dict[str, Any], name: str) -> Any:
    """Give the customer a further mailbox (at most two)"""
    mailbox = accounts.add_mailbox(db(), settings_of(), name, data["address"],
                                   data["password"])
    audit.record(db(), actor(), mailbox.customer, "mailbox added", mailbox=mailbox.name)
    return mailbox_view(mailbox)
