"""`mailbasic auth-policy`: Dovecot's authentication policy server, a small WSGI app
served by waitress on loopback TCP (Dovecot's HTTP client reaches http://host:port only).

This is the protocol boundary. A request that is not Dovecot's is answered 400; when the
database is down or slow, 503. Dovecot (auth_policy_reject_on_fail = yes) refuses the
login in both cases: the defence fails closed, never open.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg2
import waitress
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mailbasic import dbdeadline
from mailbasic.auth_policy import store
from mailbasic.auth_policy.decide import Limits, refusal_text
from mailbasic.auth_policy.guard import Attempt, LoginGuard
from mailbasic.auth_policy.protocol import (
    MAX_BODY,
    PolicyRequest,
    ProtocolError,
    answer,
    parse_request,
)
from mailbasic.config import Settings, require_database_url
from mailbasic.db import transaction
from mailbasic.errors import DatabaseUnavailable

log = logging.getLogger("mailbasic.auth_policy")

THREADS = 16                 # Dovecot's auth process keeps up to 100 connections open
PURGE_SECONDS = 600          # how often old counters, known clients and blocks go
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class PolicyApp:
    def __init__(self, guard: LoginGuard, engine: Engine) -> None:
        self.guard, self.engine = guard, engine

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = parse_request(environ.get("QUERY_STRING", ""), _body(environ))
        except ProtocolError as error:
            log.warning("refusing a request from %s: %s", environ.get("REMOTE_ADDR"), error)
            return _reply(start_response, "400 Bad Request", answer(-1, "bad request"))
        try:
            status, body = self._answer_retrying(request)
        except (SQLAlchemyError, psycopg2.Error, DatabaseUnavailable) as error:
            log.error("%s: stage=%s verdict=none status=- protocol=%s client=%s login=<%s> "
                      "reason=database unavailable (%s); answered 503, on which Dovecot "
                      "refuses the login", request.session or "NOSESSION", request.command,
                      request.protocol or "-", request.remote or "-", request.login,
                      str(error).strip().splitlines()[0])
            return _reply(start_response, "503 Service Unavailable", answer(-1, "unavailable"))
        except Exception:
            log.exception("internal error; answered 500, on which Dovecot refuses the login")
            return _reply(start_response, "500 Internal Server Error", answer(-1, "error"))
        return _reply(start_response, status, body)

    def _answer_retrying(self, request: PolicyRequest) -> tuple[str, bytes]:
        try:
            return self._answer(request)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # A pooled connection the server had closed (a restart): its transaction did
            # nothing, so once more on a fresh one.
            return self._answer(request)

    def _answer(self, request: PolicyRequest) -> tuple[str, bytes]:
        """The HTTP status and body, once the decision is committed."""
        attempt = Attempt(request.login, request.remote, request.protocol, request.session,
                          request.password_hash)
        with self.engine.begin() as connection:
            if request.command == "allow":
                verdict = self.guard.check(connection, attempt)
                return "200 OK", answer(verdict.status, refusal_text(verdict))
            if request.success:
                self.guard.succeeded(connection, attempt)
            elif not request.policy_reject:   # refused by us: no password was checked
                self.guard.failed(connection, attempt)
        return "204 No Content", b""


def _body(environ: dict[str, Any]) -> bytes:
    if environ.get("REQUEST_METHOD") != "POST":
        raise ProtocolError(f"method {environ.get('REQUEST_METHOD')}, not POST")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ProtocolError("no valid Content-Length") from None
    if not 0 < length <= MAX_BODY:
        raise ProtocolError(f"a body of {length} bytes")
    body: bytes = environ["wsgi.input"].read(length)
    return body


def _reply(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    headers = [("Content-Length", str(len(body)))]
    if body:
        headers.append(("Content-Type", "application/json"))
    start_response(status, headers)
    return [body]


def make_engine(settings: Settings) -> Engine:
    """The daemon's pool: a connection per thread, and short statements (Dovecot gives
    the whole answer two seconds). No pre-ping (a round trip of every request): a
    connection found dead is tried once more instead (_answer_retrying)."""
    return create_engine(require_database_url(settings), pool_size=THREADS,
                         max_overflow=THREADS,
                         connect_args={"connect_timeout": 3,
                                       "application_name": "mailbasic auth-policy",
                                       "options": "-c statement_timeout=2000"})


def purge_forever(guard: LoginGuard, engine: Engine, stop: threading.Event) -> None:
    """Old counters, known clients and blocks go every PURGE_SECONDS, in the background."""
    while not stop.wait(PURGE_SECONDS):
        try:
            with transaction(engine) as session:
                gone = store.purge(session, guard.limits, datetime.now(UTC))
            log.info("purged %s", ", ".join(f"{count} {name}" for name, count in gone.items()))
        except (SQLAlchemyError, DatabaseUnavailable) as error:
            log.warning("purge failed, trying again later: %s", error)


def listen_address(settings: Settings) -> tuple[str, int]:
    port, _, host = settings.auth_policy_socket.removeprefix("inet:").partition("@")
    return host, int(port)


def run(settings: Settings) -> None:
    dbdeadline.install(settings.database_deadline)
    guard, engine = LoginGuard(Limits.of(settings)), make_engine(settings)
    stop = threading.Event()
    threading.Thread(target=purge_forever, args=(guard, engine, stop), daemon=True,
                     name="purge").start()
    host, port = listen_address(settings)
    log.info("mailbasic auth-policy listening on http://%s:%d/", host, port)
    try:
        waitress.serve(PolicyApp(guard, engine), host=host, port=port, threads=THREADS,
                       connection_limit=256, ident="mailbasic", _quiet=True)
    finally:
        stop.set()
