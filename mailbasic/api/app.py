"""The admin API's Flask application: JSON at /api/v1 (mounted there beside the portal,
mailbasic/portal/server.py), one blueprint per resource, the OpenAPI document generated
by flask-smorest from the same marshmallow schemas that validate the input.

An app of its own because flask-smorest registers its (JSON) error handlers app-wide,
and the portal's error pages stay HTML.
"""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import Flask, Response
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from mailbasic.api import errors
from mailbasic.api.common import SECURITY_SCHEME, end_transaction
from mailbasic.config import Settings

TITLE = "mailbasic admin API"
VERSION = "1"
MOUNT = "/api/v1"
MAX_BODY = 1024 * 1024   # a whole Sieve script (64 KiB canonical) with room to spare


class Api(flask_smorest.Api):
    """flask-smorest with the one error shape (errors.py) instead of its own."""

    ERROR_SCHEMA = errors.ErrorSchema

    def _register_error_handlers(self) -> None:
        errors.register(self._app)


def create_api(settings: Settings, engine: Engine) -> Flask:
    app = Flask("mailbasic.api", static_folder=None)
    app.config.update(
        API_TITLE=TITLE, API_VERSION=VERSION, OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/", OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS=_spec_options(),
        MAX_CONTENT_LENGTH=MAX_BODY,
    )
    app.extensions["mailbasic.settings"] = settings
    app.extensions["mailbasic.engine"] = engine
    app.extensions["mailbasic.sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_request(end_transaction)
    app.after_request(_headers)
    api = Api(app)
    from mailbasic.api import addresses, customers, log, mailboxes, rules
    for module in (customers, mailboxes, addresses, rules, log):
        api.register_blueprint(module.blueprint)
    return app


def _spec_options() -> dict[str, Any]:
    return {
        "servers": [{"url": MOUNT}],
        "info": {"description": "For the provider's billing and provisioning systems. "
                                "Every request needs a token (`mailbasic api-token create "
                                "NAME --scope ...`) with the scope named in the "
                                "operation's x-scope."},
        "components": {"securitySchemes": {SECURITY_SCHEME: {
            "type": "http", "scheme": "bearer",
            "description": "An api token: Authorization: Bearer TOKEN"}}},
    }


def _headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Cache-Control", "no-store")   # answers hold account data
    return response
