"""Telling Dovecot that a login's rights changed: its cached logins are forgotten (a new
password, a suspension, a protocol switched off, an app password revoked), and on a
suspension its open IMAP and POP3 sessions are closed. Through doveadm's HTTP API where
it is configured (the portal and the daemons are not root), else by running doveadm.

The change itself is already committed when this runs: a failure here is reported, and
Dovecot's auth_cache_ttl bounds how long an old password could still work."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

from mailbasic import webmail_logins
from mailbasic.config import Settings
from mailbasic.doveadm import Doveadm, DoveadmApi, DoveadmError

log = logging.getLogger(__name__)
# doveadm kick exits 68 (sysexits EX_NOHOST) when the login has no session open.
_NOTHING_TO_KICK = re.compile(r"(exit|error) 68\b")


@dataclass(frozen=True)
class DovecotLogins:
    api: DoveadmApi | None
    doveadm: Doveadm

    @classmethod
    def of(cls, settings: Settings) -> DovecotLogins:
        api = (DoveadmApi(settings.doveadm_api_url, settings.doveadm_api_key)
               if settings.doveadm_api_url and settings.doveadm_api_key else None)
        return cls(api, Doveadm(settings.doveadm_command))

    def forget(self, username: str) -> None:
        """Drop the login's entries from Dovecot's authentication cache."""
        if self.api is not None:
            self.api.call("authCacheFlush", user=[username])
        else:
            self.doveadm.run("auth", "cache", "flush", username)

    def close_sessions(self, username: str) -> None:
        """End the login's open IMAP and POP3 sessions (none open is fine)."""
        try:
            if self.api is not None:
                self.api.call("kick", mask=[username])
            else:
                self.doveadm.run("kick", username)
        except DoveadmError as error:
            if not _NOTHING_TO_KICK.search(str(error)):
                raise

    def changed(self, username: str, *, close_sessions: bool = False) -> str | None:
        """forget (and close_sessions); None, or why Dovecot could not be told."""
        try:
            self.forget(username)
            if close_sessions:
                self.close_sessions(username)
        except DoveadmError as error:
            log.warning("dovecot: stage=logins verdict=failed reason=%s user=%s",
                        error, username)
            return str(error)
        return None


def after_commit(session: Session, settings: Settings, login: str, *,
                 close_sessions: bool = False) -> None:
    """Tell Dovecot, and the webmail's cache (mailbasic/webmail_logins.py), once the
    session's transaction has committed (the portal and the API commit after the view);
    a failure is logged (DovecotLogins.changed, webmail_logins.forget)."""
    def tell(_: Session) -> None:
        DovecotLogins.of(settings).changed(login, close_sessions=close_sessions)
        webmail_logins.forget(settings.webmail_cache_socket, login)
    event.listen(session, "after_commit", tell, once=True)
