"""A mailbox's rules: spam settings, white and black lists, filters (as Sieve),
vacation reply; and the forwarding of an address. The same service layer as `mailbasic
rules`, so the same refusals."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from mailbasic import accounts, audit
from mailbasic.api.common import Blueprint, actor, db, requires
from mailbasic.api.schemas import Text
from mailbasic.rules import service, sieve
from mailbasic.schema import Customer

blueprint = Blueprint("rules", __name__, description="Per-mailbox rules applied when mail "
                      "arrives, and the forwarding of addresses.")
SPAM_ACTIONS = ("tag", "folder", "delete")
MAX_SIEVE = 512 * 1024   # as written, with comments; the canonical script has its own limit


class SpamSchema(ma.Schema):
    enabled = ma.fields.Boolean(metadata={"description": "act on spam at all"})
    threshold = ma.fields.Float(validate=ma.validate.Range(-100, 100),
                                metadata={"description": "score from which mail is spam"})
    action = ma.fields.String(validate=ma.validate.OneOf(SPAM_ACTIONS), metadata={
        "description": "tag: headers only; folder: into \"Spam\"; delete: not delivered"})

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("give enabled, threshold or action")


class ForwardSchema(ma.Schema):
    address = ma.fields.String(dump_only=True)
    target = Text(required=True, metadata={"example": "someone@elsewhere.example"})
    keep_copy = ma.fields.Boolean(load_default=False,
                                  metadata={"description": "deliver to the mailbox as well"})


class SenderSchema(ma.Schema):
    sender = ma.fields.String(dump_only=True)
    list = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ("whitelist", "blacklist")))


class FiltersSchema(ma.Schema):
    sieve = Text(required=True, max_length=MAX_SIEVE,
                 metadata={"description": "the filters as a Sieve script (RFC 5228)"})
    filters = ma.fields.Integer(dump_only=True, metadata={"description": "how many"})


# "from" is a Python keyword: these are built from dicts. The view has the dates as the
# service's describe() writes them (ISO strings), which a Date field cannot dump.
VacationSchema = ma.Schema.from_dict({
    "from": ma.fields.Date(required=True),
    "until": ma.fields.Date(required=True),
    "subject": Text(load_default="", max_length=200,
                    metadata={"description": "empty: \"Auto: \" and the original subject"}),
    "text": Text(required=True, max_length=10000),
    "interval_days": ma.fields.Integer(load_default=7, validate=ma.validate.Range(1, 365),
                                       metadata={"description": "days between two replies "
                                                                "to one sender"}),
}, name="Vacation")
VacationViewSchema = ma.Schema.from_dict({
    "from": ma.fields.String(metadata={"format": "date"}),
    "until": ma.fields.String(metadata={"format": "date"}),
    "subject": ma.fields.String(),
    "text": ma.fields.String(),
    "interval_days": ma.fields.Integer(),
}, name="VacationView")
RulesSchema = ma.Schema.from_dict({
    "mailbox": ma.fields.String(),
    "spam": ma.fields.Nested(SpamSchema),
    "whitelist": ma.fields.List(ma.fields.String()),
    "blacklist": ma.fields.List(ma.fields.String()),
    "filters": ma.fields.String(metadata={"description": "the filters as Sieve"}),
    "forwards": ma.fields.Dict(keys=ma.fields.String(),
                               values=ma.fields.Nested(ForwardSchema)),
    "vacation": ma.fields.Nested(VacationViewSchema, allow_none=True),
}, name="Rules")


@blueprint.route("/mailboxes/<mailbox>/rules", methods=["GET"])
@requires("rules:read")
@blueprint.response(200, RulesSchema)
def show_rules(mailbox: str) -> Any:
    """Show every rule of the mailbox"""
    return service.describe(db(), mailbox)


@blueprint.route("/mailboxes/<mailbox>/rules/spam", methods=["PATCH"])
@requires("rules:write")
@blueprint.arguments(SpamSchema)
@blueprint.response(200, SpamSchema)
def set_spam(data: dict[str, Any], mailbox: str) -> Any:
    """Change the spam settings (those given; the others stay)"""
    service.set_spam(db(), mailbox, **data)
    _audit(_owner(mailbox), "spam settings changed", mailbox=mailbox, spam=data)
    return service.describe(db(), mailbox)["spam"]


@blueprint.route("/mailboxes/<mailbox>/rules/senders/<sender>", methods=["PUT"])
@requires("rules:write")
@blueprint.arguments(SenderSchema)
@blueprint.response(200, SenderSchema)
def put_sender(data: dict[str, Any], mailbox: str, sender: str) -> Any:
    """Put a sender (name@domain or @domain) on the white- or blacklist; a sender on the
    other list moves"""
    entry = service.add_sender(db(), mailbox, data["list"], sender)
    _audit(_owner(mailbox), "sender listed", mailbox=mailbox, sender=entry.sender,
           list=entry.list.value)
    return {"sender": entry.sender, "list": entry.list.value}


@blueprint.route("/mailboxes/<mailbox>/rules/senders/<sender>", methods=["DELETE"])
@requires("rules:write")
@blueprint.response(204)
def remove_sender(mailbox: str, sender: str) -> None:
    """Take a sender off the mailbox's lists"""
    service.remove_sender(db(), mailbox, sender)
    _audit(_owner(mailbox), "sender unlisted", mailbox=mailbox, sender=sender)


@blueprint.route("/mailboxes/<mailbox>/rules/filters", methods=["GET"])
@requires("rules:read")
@blueprint.response(200, FiltersSchema)
def get_filters(mailbox: str) -> Any:
    """The mailbox's filters as a Sieve script"""
    script = service.filters_of(db(), mailbox)
    return {"sieve": sieve.render(script), "filters": len(script.commands)}


@blueprint.route("/mailboxes/<mailbox>/rules/filters", methods=["PUT"])
@requires("rules:write")
@blueprint.arguments(FiltersSchema)
@blueprint.response(200, FiltersSchema)
def put_filters(data: dict[str, Any], mailbox: str) -> Any:
    """Replace the mailbox's filters with a Sieve script (refused with its line number
    when it uses what mailbasic does not support); an empty script removes them all"""
    script = service.set_filters(db(), mailbox, data["sieve"])
    _audit(_owner(mailbox), "filters set", mailbox=mailbox, filters=len(script.commands))
    return {"sieve": sieve.render(script), "filters": len(script.commands)}


@blueprint.route("/mailboxes/<mailbox>/rules/vacation", methods=["PUT"])
@requires("rules:write")
@blueprint.arguments(VacationSchema)
@blueprint.response(200, VacationViewSchema)
def put_vacation(data: dict[str, Any], mailbox: str) -> Any:
    """Set the mailbox's vacation reply"""
    service.set_vacation(db(), mailbox, data["from"], data["until"], data["subject"],
                         data["text"], data["interval_days"])
    _audit(_owner(mailbox), "vacation set", mailbox=mailbox,
           first_day=data["from"].isoformat(), last_day=data["until"].isoformat())
    return service.describe(db(), mailbox)["vacation"]


@blueprint.route("/mailboxes/<mailbox>/rules/vacation", methods=["DELETE"])
@requires("rules:write")
@blueprint.response(204)
def remove_vacation(mailbox: str) -> None:
    """Remove the mailbox's vacation reply"""
    service.clear_vacation(db(), mailbox)
    _audit(_owner(mailbox), "vacation removed", mailbox=mailbox)


@blueprint.route("/addresses/<address>/forward", methods=["PUT"])
@requires("rules:write")
@blueprint.arguments(ForwardSchema)
@blueprint.response(200, ForwardSchema)
def put_forward(data: dict[str, Any], address: str) -> Any:
    """Forward the address's mail to another address (instead of, or with keep_copy as
    well as, delivering it)"""
    forward = service.set_forward(db(), address, data["target"], data["keep_copy"])
    owner = accounts.find_address(db(), address).mailbox.customer
    _audit(owner, "forward set", address=address, target=forward.target,
           keep_copy=forward.keep_copy)
    return {"address": address, "target": forward.target, "keep_copy": forward.keep_copy}


@blueprint.route("/addresses/<address>/forward", methods=["DELETE"])
@requires("rules:write")
@blueprint.response(204)
def remove_forward(address: str) -> None:
    """Stop forwarding the address"""
    service.remove_forward(db(), address)
    _audit(accounts.find_address(db(), address).mailbox.customer, "forward removed",
           address=address)


def _owner(mailbox: str) -> Customer:
    return accounts.get_mailbox(db(), mailbox).customer


def _audit(customer: Customer, action: str, **detail: Any) -> None:
    audit.record(db(), actor(), customer, action, **detail)
