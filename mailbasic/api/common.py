"""What every endpoint shares: its token and scope, the request's database transaction,
the audit actor, and the blueprint class with strict input parsing."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
import marshmallow as ma
from flask import Request, current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from webargs.flaskparser import FlaskParser, abort

from mailbasic import audit
from mailbasic.api import tokens
from mailbasic.api.errors import Refusal
from mailbasic.config import Settings
from mailbasic.errors import InvalidInput

View = TypeVar("View", bound=Callable[..., Any])
SECURITY_SCHEME = "token"


class StrictParser(FlaskParser):
    """A body Python's json module cannot read is a bad request: it raises more than
    webargs catches (an integer of 4300+ digits, arrays nested too deep)."""

    def _raw_load_json(self, req: Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise      # webargs's own answer: 400, or an empty body as none
        except (ValueError, RecursionError) as error:
            abort(400, exc=error, messages={"json": [f"Invalid JSON body: {error}."]})


class Blueprint(flask_smorest.Blueprint):
    # A misspelt query parameter is refused like a misspelt body field (webargs ignores
    # unknown query parameters by default).
    ARGUMENTS_PARSER = StrictParser(unknown=ma.RAISE)


def settings_of() -> Settings:
    settings: Settings = current_app.extensions["mailbasic.settings"]
    return settings


def db() -> Session:
    """The request's one database transaction; `requires` commits it when the view
    succeeded, the teardown closes (and so rolls back) whatever was not committed."""
    if "db" not in g:
        g.db = current_app.extensions["mailbasic.sessions"]()
        g.db.begin()
    session: Session = g.db
    return session


def end_transaction(error: BaseException | None) -> None:
    found: Session | None = g.pop("db", None)
    if found is not None:
        found.close()


def requires(scope: str) -> Callable[[View], View]:
    """The endpoint needs a live token with this scope (checked before its input is
    read). It commits the request's transaction before the answer goes out, so a change
    that cannot be committed is answered as a refusal, not as a success that was lost
    (the portal commits in its teardown, after the page was made)."""
    if scope not in tokens.SCOPES:
        raise ValueError(f"unknown scope {scope}")

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*arguments: Any, **keywords: Any) -> Any:
            caller = _authenticate()
            if scope not in caller.scopes:
                raise Refusal(403, "forbidden", f"api token {caller.name} lacks the scope "
                              f"{scope}", {"WWW-Authenticate": _challenge(
                                  "insufficient_scope", scope)})
            g.caller = caller
            if any("\x00" in str(value) for value in (request.view_args or {}).values()):
                raise InvalidInput("NUL characters are not allowed in the path")
            answer = view(*arguments, **keywords)
            db().commit()
            return answer
        documented = flask_smorest.Blueprint.doc(
            security=[{SECURITY_SCHEME: []}], **{"x-scope": scope})
        return documented(guarded)  # type: ignore[no-any-return]  # flask_smorest: untyped
    return decorate


def _authenticate() -> tokens.Caller:
    kind, _, secret = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise Refusal(401, "unauthorized", "send an api token: Authorization: Bearer TOKEN",
                      {"WWW-Authenticate": _challenge()})
    engine: Engine = current_app.extensions["mailbasic.engine"]
    with engine.begin() as connection:
        caller = tokens.authenticate(connection, secret.strip())
    if caller is None:
        raise Refusal(401, "unauthorized", "the api token is not valid (unknown or revoked)",
                      {"WWW-Authenticate": _challenge("invalid_token")})
    return caller


def _challenge(error: str | None = None, scope: str | None = None) -> str:
    """RFC 6750's WWW-Authenticate for bearer tokens."""
    parts = ['Bearer realm="mailbasic"']
    parts += [f'error="{error}"'] if error else []
    parts += [f'scope="{scope}"'] if scope else []
    return ", ".join(parts)


def client_address() -> str:
    """nginx, the only client of the service's socket, sets X-Real-IP."""
    return request.headers.get("X-Real-IP") or request.remote_addr or "unknown"


def actor() -> audit.Actor:
    caller: tokens.Caller = g.caller
    return audit.Actor(f"api {caller.name}", client_address())
