"""The portal's logins under the one brute-force defence (mailbasic.auth_policy): the same
counters, blocks and known clients as Dovecot's IMAP, POP3 and SMTP AUTH logins, and the
same decision, taken in the portal's own transaction instead of over HTTP.

Where Dovecot holds a login for the delay, the portal answers "wait N seconds" until the
delay has passed since the last failure: a held request would hold one of its threads.
The account key is the customer's name (mailbox logins have an @, names never do).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbasic.auth_policy.decide import Limits, Verdict
from mailbasic.auth_policy.guard import Attempt, LoginGuard
from mailbasic.config import Settings

PROTOCOL = "portal"


def _guard(settings: Settings) -> LoginGuard:
    return LoginGuard(Limits.of(settings))


def check(session: Session, settings: Settings, name: str, client: str) -> Verdict:
    """Before the password: REFUSE (blocked), a number of seconds to wait, or ALLOW."""
    return _guard(settings).check(session, Attempt(name, client, PROTOCOL), hold=False)


def failed(session: Session, settings: Settings, name: str, client: str) -> None:
    _guard(settings).failed(session, Attempt(name, client, PROTOCOL))


def succeeded(session: Session, settings: Settings, name: str, client: str) -> None:
    """Only once the whole login is done (the second factor too): a client that knows
    the password but not the code must not become a known client of the account."""
    _guard(settings).succeeded(session, Attempt(name, client, PROTOCOL))
