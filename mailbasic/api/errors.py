"""The API's one error shape, for every refusal, bad request and failure:

    {"error": {"kind": "limit_reached", "message": "...", "exit_code": 6}}

The kinds and exit codes are the CLI's (mailbasic/errors.py, README "Exit codes"), the
message is the service layer's refusal as the CLI prints it. Errors of HTTP itself (no
token, wrong scope, unknown method) have kinds of their own and no exit code. Bad input
carries "fields": what is wrong with which field.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import marshmallow as ma
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from mailbasic.cli import refusal_of
from mailbasic.errors import (
    AlreadyExists,
    ConfigError,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    LimitReached,
    MailbasicError,
    NotAllowed,
    NotFound,
)

log = logging.getLogger("mailbasic.api")

# Each refusal of the service layer: its kind and HTTP status. Every one is a 4xx but
# the database being away (503) and a broken configuration (500, which a running
# service cannot have).
REFUSALS: dict[type[MailbasicError], tuple[str, int]] = {
    NotFound: ("not_found", 404),
    AlreadyExists: ("already_exists", 409),
    LimitReached: ("limit_reached", 409),       # state, not syntax: free a slot and retry
    InvalidInput: ("invalid_input", 422),
    NotAllowed: ("not_allowed", 403),
    Conflict: ("conflict", 409),
    DatabaseUnavailable: ("database_unavailable", 503),
    ConfigError: ("config_error", 500),
    MailbasicError: ("refused", 422),
}
# HTTP errors that mean what one of the refusals means (unknown URL, unreadable body).
_AS_REFUSAL: dict[int, type[MailbasicError]] = {400: InvalidInput, 404: NotFound,
                                               422: InvalidInput}


class Refusal(Exception):
    """A refusal of the API itself: no valid token (401), a scope not granted (403)."""

    def __init__(self, status: int, kind: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.headers = status, kind, headers or {}


class ErrorDetail(ma.Schema):
    kind = ma.fields.String(required=True, metadata={"example": "limit_reached"})
    message = ma.fields.String(required=True)
    exit_code = ma.fields.Integer(allow_none=True, metadata={
        "description": "the CLI's exit code for the same refusal (null: none)"})
    # data_key: a field named "fields" would hide the Schema's own attribute.
    field_messages = ma.fields.Dict(data_key="fields", metadata={
        "description": "bad input: the messages per field"})


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetail, required=True)


def register(app: Flask) -> None:
    app.register_error_handler(Refusal, _api_refusal)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _exception)


def answer(status: int, kind: str, message: str, exit_code: int | None,
           **extra: Any) -> Response:
    response = jsonify({"error": {"kind": kind, "message": message, "exit_code": exit_code,
                                  **extra}})
    response.status_code = status
    return response


def refusal_answer(refusal: MailbasicError, status: int | None = None,
                   **extra: Any) -> Response:
    kind, default_status = next(found for cls, found in REFUSALS.items()
                                if isinstance(refusal, cls))
    return answer(status or default_status, kind, str(refusal), refusal.exit_code, **extra)


def _api_refusal(error: Refusal) -> Response:
    response = answer(error.status, error.kind, str(error), None)
    response.headers.update(error.headers)
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}      # webargs: the validation messages
    messages = data.get("messages")
    text = "; ".join(_flatten(messages)) if messages else (error.description or error.name)
    extra = {"fields": _merged(messages)} if messages else {}
    if status in _AS_REFUSAL:
        response = refusal_answer(_AS_REFUSAL[status](text), status, **extra)
    else:
        response = answer(status, _snake(error.name), text, None, **extra)
    response.headers.update({name: value for name, value in error.get_headers()
                             if name.lower() != "content-type"})
    return response


def _exception(error: Exception) -> Response:
    """A database error is one of the service's refusals (as in the CLI); anything else
    is a bug: logged with its traceback, answered without one."""
    refusal = refusal_of(error)
    if refusal is not None:
        return refusal_answer(refusal)
    log.exception("api request failed")
    return answer(500, "internal_error", "the request failed; the service's log has "
                  "the details", None)


def _flatten(messages: Any, path: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [line for key, value in messages.items()
                for line in _flatten(value, _join(path, str(key)))]
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return [f"{path}: {' '.join(messages)}" if path else " ".join(messages)]
    if isinstance(messages, list):
        return [line for index, item in enumerate(messages)
                for line in _flatten(item, _join(path, str(index)))]
    return [f"{path}: {messages}" if path else str(messages)]


def _join(path: str, key: str) -> str:
    # webargs files messages under the location ("json", "query"), marshmallow those of
    # the whole body under "_schema": neither is part of a field's name.
    if key == "_schema" or (not path and key in ("json", "query", "querystring")):
        return path
    return f"{path}.{key}" if path else key


def _merged(messages: Any) -> Any:
    """The field messages without webargs's location level."""
    if not isinstance(messages, dict):
        return messages
    merged: dict[str, Any] = {}
    for location, found in messages.items():
        merged.update(found if isinstance(found, dict) else {location: found})
    return merged


def _snake(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip().lower())
