"""What the endpoints share: input fields that refuse what the database cannot hold, and
the account views (the CLI's --json views, mailbasic/cli/views.py, as schemas)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma

from mailbasic.config import MAX_SIZE, parse_size

# Longer than any name, address or reason the service keeps; the service layer has the
# exact rules (and their messages), this only keeps megabytes away from it.
MAX_TEXT = 1000


class Text(ma.fields.String):
    """A string without NUL, which PostgreSQL cannot store (psycopg2 would raise)."""

    def __init__(self, *, max_length: int = MAX_TEXT, **keywords: Any) -> None:
        super().__init__(validate=ma.validate.Length(max=max_length), **keywords)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **keywords: Any) -> str:
        text = super()._deserialize(value, attr, data, **keywords)
        if "\x00" in text:
            raise ma.ValidationError("NUL characters are not allowed.")
        return text


class Size(ma.fields.Field):
    """Bytes, as a number or as the CLI takes them: "1G", "500M", "512 KiB"."""

    def __init__(self, **keywords: Any) -> None:
        super().__init__(metadata={"oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_SIZE},
            {"type": "string", "example": "1G"}], **keywords.pop("metadata", {})}, **keywords)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **keywords: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str) \
                or (isinstance(value, str) and len(value) > 40):
            raise ma.ValidationError("A size: bytes, or e.g. \"1G\", \"500M\".")
        try:
            return parse_size(value)
        except ValueError as error:
            raise ma.ValidationError(str(error)) from None


class Password(ma.Schema):
    password = Text(required=True, load_only=True)


class MailboxSchema(ma.Schema):
    name = ma.fields.String(metadata={"description": "the primary address, also the login"})
    customer = ma.fields.String()
    quota_bytes = ma.fields.Integer()
    receiving = ma.fields.String(metadata={"enum": ["active", "deactivated"]})
    deactivated_reason = ma.fields.String(allow_none=True)
    deactivated_at = ma.fields.DateTime(allow_none=True)
    last_pop3_login_at = ma.fields.DateTime(allow_none=True)
    last_imap_login_at = ma.fields.DateTime(allow_none=True)
    last_webmail_login_at = ma.fields.DateTime(allow_none=True)
    suspended_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "set: no login works, mail still arrives"})
    suspended_reason = ma.fields.String(allow_none=True)
    access = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Boolean(), metadata={
        "description": "each protocol (imap, pop3, smtp, webmail): may the mailbox log in"})
    submission_suspended_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "SMTP AUTH stopped automatically (abuse)"})
    submission_suspended_reason = ma.fields.String(allow_none=True)
    addresses = ma.fields.List(ma.fields.String())


class CustomerSchema(ma.Schema):
    name = ma.fields.String()
    created_at = ma.fields.DateTime()
    mailboxes = ma.fields.List(ma.fields.Nested(MailboxSchema))


class AddressSchema(ma.Schema):
    address = ma.fields.String()
    mailbox = ma.fields.String()
    primary = ma.fields.Boolean()
