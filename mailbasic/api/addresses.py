"""/addresses/ADDRESS: show, remove, and move an address to the customer's other
mailbox."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from mailbasic import accounts, audit
from mailbasic.api.common import Blueprint, actor, db, requires
from mailbasic.api.schemas import AddressSchema, Text
from mailbasic.cli.views import address_view

blueprint = Blueprint("addresses", __name__, url_prefix="/addresses",
                      description="Addresses of mailboxes (1 primary + up to 5 more each).")


class Move(ma.Schema):
    mailbox = Text(required=True, metadata={"description": "the customer's other mailbox"})


@blueprint.route("/<address>", methods=["GET"])
@requires("mailboxes:read")
@blueprint.response(200, AddressSchema)
def show_address(address: str) -> Any:
    """Show an address and the mailbox it reaches"""
    return address_view(accounts.find_address(db(), address))


@blueprint.route("/<address>", methods=["DELETE"])
@requires("mailboxes:write")
@blueprint.response(204)
def remove_address(address: str) -> None:
    """Remove an address (a primary address cannot be removed)"""
    found = accounts.find_address(db(), address)
    mailbox, customer = found.mailbox.name, found.mailbox.customer
    accounts.remove_address(db(), address)
    audit.record(db(), actor(), customer, "address removed", address=address,
                 mailbox=mailbox)


@blueprint.route("/<address>/move", methods=["POST"])
@requires("mailboxes:write")
@blueprint.arguments(Move)
@blueprint.response(200, AddressSchema)
def move_address(data: dict[str, Any], address: str) -> Any:
    """Move an address to another mailbox of the same customer"""
    previous = accounts.find_address(db(), address).mailbox.name
    moved = accounts.move_address(db(), address, data["mailbox"])
    audit.record(db(), actor(), moved.mailbox.customer, "address moved", address=moved.email,
                 mailbox=moved.mailbox.name, previous_mailbox=previous)
    return address_view(moved)
