"""Serves the portal, and the admin API at /api/v1 beside it, with waitress (a
maintained, pure-Python WSGI server with a thread pool) on a unix socket; nginx
terminates TLS in front and is its only client."""

from __future__ import annotations

import logging
import os

import waitress
from sqlalchemy import Engine
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from mailbasic.api.app import MOUNT, create_api
from mailbasic.config import Settings
from mailbasic.db import make_engine
from mailbasic.portal.app import create_app

log = logging.getLogger("mailbasic.portal")


def run(settings: Settings) -> None:
    path = settings.portal_socket.removeprefix("unix:")
    if os.path.exists(path):
        os.unlink(path)   # left by a killed instance
    app = wsgi_app(settings, make_engine(settings))
    log.info("mailbasic portal listening on %s", settings.portal_socket)
    # 0660: nginx's group reaches the socket, nobody else.
    waitress.serve(app, unix_socket=path, unix_socket_perms="660",
                   threads=settings.portal_threads, ident="mailbasic")


def wsgi_app(settings: Settings, engine: Engine) -> DispatcherMiddleware:
    """The portal, with the API as an app of its own at /api/v1 (its JSON errors stay
    out of the portal's HTML pages)."""
    return DispatcherMiddleware(create_app(settings, engine),
                                {MOUNT: create_api(settings, engine)})
