"""The portal's Flask application: configuration, security headers, language, the
database session of each request. Views live in views/, one module per page group; they
only translate between forms and the service layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Flask, Response, g, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailbasic.config import Settings
from mailbasic.errors import ConfigError

LANGUAGES = ("de", "en")
# No script, no inline style, no framing, no third party: every page is plain HTML forms.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(settings: Settings, engine: Engine) -> Flask:
    if not settings.portal_secret_key:
        raise ConfigError("the portal needs portal.secret_key (32+ random characters)")
    app = Flask("mailbasic.portal")
    app.config.update(
        SECRET_KEY=settings.portal_secret_key,
        # __Host-: only over HTTPS, only for this host, for every path.
        SESSION_COOKIE_NAME="__Host-mailbasic",
        SESSION_COOKIE_SECURE=True, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.portal_session_minutes),
        WTF_CSRF_TIME_LIMIT=None,   # bound to the session, which expires itself
        BABEL_DEFAULT_LOCALE="de",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.extensions["mailbasic.settings"] = settings
    app.extensions["mailbasic.sessions"] = sessionmaker(engine, expire_on_commit=False)
    CSRFProtect(app)
    Babel(app, locale_selector=choose_language)
    app.after_request(secure_headers)
    app.teardown_request(end_transaction)
    app.context_processor(lambda: {"languages": LANGUAGES, "language": choose_language()})
    from mailbasic.portal.views import register
    register(app)
    return app


def choose_language() -> str:
    """A switch the customer made (kept in the session), else the browser's preference,
    else German."""
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or "de"


def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"  # pages show private data
    return response


def settings_of() -> Settings:
    from flask import current_app
    settings: Settings = current_app.extensions["mailbasic.settings"]
    return settings


def db() -> Session:
    """The request's one database transaction: committed after the view, unless it
    failed (teardown)."""
    if "db" not in g:
        from flask import current_app
        g.db = current_app.extensions["mailbasic.sessions"]()
        g.db.begin()
    session_: Session = g.db
    return session_


def end_transaction(error: BaseException | None) -> None:
    found: Session | None = g.pop("db", None)
    if found is None:
        return
    try:
        if error is None and not g.get("rollback"):
            found.commit()
        else:
            found.rollback()
    finally:
        found.close()


def rollback_request() -> None:
    """A refused change: nothing of this request is kept (a view shows the refusal)."""
    g.rollback = True
    if "db" in g:
        g.db.rollback()
        g.db.begin()


def iter_form_errors(form: Any) -> Iterator[str]:
    for messages in form.errors.values():
        yield from messages
