"""A client-side deadline on every PostgreSQL call of a daemon process.

A frozen database server (a storage stall, SIGSTOP) accepts connections and queries and
never answers; a server-side statement_timeout cannot fire, and libpq waits forever.
psycopg2's wait callback (psycopg2.extensions.set_wait_callback) makes every connection
asynchronous underneath and lets us do the waiting: with a deadline. Past it the
call raises OperationalError and psycopg2 closes the connection (so SQLAlchemy's pool
discards it as disconnected), which each daemon's protocol boundary turns into a 4xx.

Installed by the milter, the policy daemon and the lookup table daemon at start; the CLI
and the jobs keep libpq's plain blocking calls.
"""

from __future__ import annotations

import select
import time

import psycopg2
from psycopg2 import extensions

DEADLINE_MESSAGE = "database did not answer within the deadline"


def install(seconds: float) -> None:
    """Every psycopg2 call of this process from now on waits at most `seconds`."""
    def wait(connection: extensions.connection) -> None:
        _wait(connection, seconds)
    extensions.set_wait_callback(wait)


def uninstall() -> None:
    extensions.set_wait_callback(None)


def _wait(connection: extensions.connection, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        state = connection.poll()
        if state == extensions.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _give_up(connection)
        if state == extensions.POLL_READ:
            ready = select.select([connection.fileno()], [], [], remaining)[0]
        elif state == extensions.POLL_WRITE:
            ready = select.select([], [connection.fileno()], [], remaining)[1]
        else:  # pragma: no cover - psycopg2 documents no other state
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        if not ready:
            _give_up(connection)


def _give_up(connection: extensions.connection) -> None:
    # A frozen server would not read a cancel request either. psycopg2 closes the
    # connection itself when its wait callback fails (closing it here, with the
    # connection's lock held by the waiting call, would deadlock).
    raise psycopg2.OperationalError(DEADLINE_MESSAGE)
