"""/log: the SMTP transaction log, each message with its whole story (arrival, the
stages' verdicts, each recipient's delivery attempts, the messages it caused), as
`mailbasic log search --json` shows it."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from mailbasic import smtplog
from mailbasic.api.common import Blueprint, db, requires
from mailbasic.api.schemas import Text
from mailbasic.cli.log import parse_time
from mailbasic.delivery import story

blueprint = Blueprint("log", __name__, url_prefix="/log",
                      description="The SMTP transaction log and the delivery record.")
MAX_RESULTS = 1000


class SearchSchema(ma.Schema):
    address = Text(metadata={"description": "sender, authenticated user or recipient"})
    queue_id = Text(metadata={"description": "Postfix queue id"})
    since = Text(metadata={"description": "from this time on: ISO 8601 (UTC unless an "
                                          "offset is given) or ago: 30m, 1h, 7d"})
    until = Text(metadata={"description": "before this time"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_RESULTS))


class AttemptSchema(ma.Schema):
    at = ma.fields.String()
    recipient = ma.fields.String()
    orig_recipient = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    dsn = ma.fields.String()
    relay = ma.fields.String()
    delay = ma.fields.Float()
    reply = ma.fields.String(metadata={"description": "the remote server's own words"})
    service = ma.fields.String()


class CausedSchema(ma.Schema):
    kind = ma.fields.String(metadata={"description": "bounce, vacation reply, ..."})
    queue_id = ma.fields.String()
    at = ma.fields.String()
    deliveries = ma.fields.List(ma.fields.Nested(AttemptSchema))
    caused = ma.fields.List(ma.fields.Nested(lambda: CausedSchema()))


class SessionSchema(ma.Schema):
    service = ma.fields.String()
    connected_at = ma.fields.String()
    ended_at = ma.fields.String(allow_none=True)
    client = ma.fields.String()
    helo = ma.fields.String(allow_none=True)
    tls = ma.fields.String(allow_none=True)
    auth_user = ma.fields.String(allow_none=True)
    auth_failures = ma.fields.List(ma.fields.Dict())
    refusals = ma.fields.List(ma.fields.Dict())
    queue_ids = ma.fields.List(ma.fields.String())
    end = ma.fields.String(allow_none=True)
    commands = ma.fields.String(allow_none=True)


class RecipientSchema(ma.Schema):
    address = ma.fields.String()
    outcome = ma.fields.String()


class StorySchema(ma.Schema):
    queue_id = ma.fields.String()
    logged_at = ma.fields.String()
    client = ma.fields.String()
    helo = ma.fields.String()
    tls = ma.fields.String(allow_none=True)
    auth_user = ma.fields.String(allow_none=True)
    sender = ma.fields.String()
    size = ma.fields.Integer(allow_none=True)
    reply = ma.fields.String()
    verdicts = ma.fields.Dict(metadata={"description": "each stage's verdict"})
    recipients = ma.fields.List(ma.fields.Nested(RecipientSchema))
    deliveries = ma.fields.List(ma.fields.Nested(AttemptSchema))
    caused = ma.fields.List(ma.fields.Nested(CausedSchema))
    session = ma.fields.Nested(SessionSchema, allow_none=True)


@blueprint.route("", methods=["GET"])
@requires("log:read")
@blueprint.arguments(SearchSchema, location="query")
@blueprint.response(200, StorySchema(many=True))
def search(query: dict[str, Any]) -> Any:
    """Find messages, newest first, each with its whole story"""
    return [story.story(db(), row) for row in smtplog.search(
        db(), address=query.get("address"), queue_id=query.get("queue_id"),
        since=parse_time(query.get("since")), until=parse_time(query.get("until")),
        limit=query["limit"])]
