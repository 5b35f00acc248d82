"""Dovecot 2.3's authentication policy protocol (auth-policy.c of 2.3.19.1, Debian 12's).

Dovecot POSTs one JSON object to auth_policy_server_url with `?command=allow` before it
checks a password and `?command=report` after. The object holds the attributes that
auth_policy_request_attributes names (all strings: Dovecot quotes every value), "tls",
and in a report "success" and "policy_reject" (booleans). An allow is answered with
{"status": N, "msg": TEXT}: N < 0 refuses (TEXT is shown to the client), 0 allows,
N > 0 holds the login N seconds first. A report's answer body is not read; any 2xx will do.

Anything else is a ProtocolError: the server answers 400, and Dovecot, with
auth_policy_reject_on_fail, refuses that login.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

MAX_BODY = 8192        # a handful of short attributes; more is not Dovecot
COMMANDS = ("allow", "report")


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class PolicyRequest:
    command: str            # "allow" (before the password is checked) or "report"
    login: str              # the login as Dovecot has it (default realm added)
    remote: str             # the client's address ("" when Dovecot has none)
    protocol: str           # Dovecot's service: imap, pop3, smtp (Postfix's SMTP AUTH)
    session: str            # Dovecot's session id ("" for Postfix's logins)
    password_hash: str      # the password tried, hashed with the nonce and truncated
    success: bool = False           # report: the password was right
    policy_reject: bool = False     # report: our allow refused it, no password checked


def parse_request(query: str, body: bytes) -> PolicyRequest:
    command = _command(query)
    attributes = _object(body)
    strings = {name: _string(attributes, name)
               for name in ("login", "remote", "protocol", "session_id", "pwhash")}
    request = PolicyRequest(command, strings["login"], strings["remote"],
                            strings["protocol"], strings["session_id"], strings["pwhash"])
    if command == "allow":
        return request
    return replace(request, success=_boolean(attributes, "success"),
                   policy_reject=_boolean(attributes, "policy_reject"))


def _command(query: str) -> str:
    commands = parse_qs(query).get("command", [])
    if len(commands) != 1 or commands[0] not in COMMANDS:
        raise ProtocolError(f"no command=allow or command=report in {query[:80]!r}")
    return commands[0]


def _object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise ProtocolError(f"request body over {MAX_BODY} bytes")
    try:
        attributes = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"not JSON: {error}") from None
    if not isinstance(attributes, dict):
        raise ProtocolError("not a JSON object")
    return attributes


def _string(attributes: dict[str, Any], name: str) -> str:
    value = attributes.get(name, "")
    if not isinstance(value, str):
        raise ProtocolError(f"{name} is not a string")
    if any(not character.isprintable() for character in value) or len(value) > 512:
        raise ProtocolError(f"{name} is not one short printable line")
    return value


def _boolean(attributes: dict[str, Any], name: str) -> bool:
    value = attributes.get(name)
    if not isinstance(value, bool):
        raise ProtocolError(f"a report without a boolean {name}")
    return value


def answer(status: int, message: str = "") -> bytes:
    return json.dumps({"status": status, "msg": message}).encode()
