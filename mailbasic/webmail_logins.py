"""Telling the webmail (SOGo) that a login's rights changed.

SOGo keeps each login it accepted in its memcached, under the key LOGIN+attributes, for
SOGoCacheCleanupInterval (five minutes), and checks its open sessions and every
CalDAV/CardDAV request against that entry, not against the database. Deleting the entry
makes SOGo's next request ask its user source again (the view sogo_users), where a
suspended mailbox, one without webmail or with a new password no longer logs in: the
open session ends and CalDAV/CardDAV answer 401. One `delete` of memcached's text
protocol on SOGo's cache socket (`[groupware] cache_socket`; unset: no webmail here).

The change itself is already committed when this runs: a failure is logged, and SOGo's
cache interval bounds how long the old login could still be used."""

from __future__ import annotations

import logging
import re
import socket

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0
# memcached keys: at most 250 bytes, no whitespace or control characters.
_KEY = re.compile(r"^[^\s\x00-\x1f\x7f]{1,240}$")
_ANSWERS = (b"DELETED\r\n", b"NOT_FOUND\r\n")


def forget(cache_socket: str | None, login: str) -> str | None:
    """Drop SOGo's cached login; None, or why SOGo's cache could not be told."""
    if cache_socket is None:
        return None
    key = f"{login}+attributes"
    if not _KEY.match(key):
        return _failed(login, "not a login SOGo can have cached")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(TIMEOUT_SECONDS)
            connection.connect(cache_socket)
            connection.sendall(f"delete {key}\r\n".encode())
            answer = connection.recv(64)
    except OSError as error:
        return _failed(login, f"{cache_socket}: {error}")
    if answer not in _ANSWERS:
        return _failed(login, f"memcached answered {answer[:40]!r}")
    return None


def _failed(login: str, reason: str) -> str:
    log.warning("webmail: stage=logins verdict=failed reason=%s user=%s", reason, login)
    return reason
