"""App passwords: one per device, generated here from 128 random bits, limited to chosen
protocols (IMAP, POP3, SMTP AUTH), shown once, revocable, with their last use; and the
customer's choice to demand them (the mailbox password then opens webmail and the
portal only), which needs the customer's second factor.

Stored as the SHA-256 (hex) of the exact string handed out: a 128-bit random value is in
no dictionary and 2^128 guesses are out of reach, so a slow hash would only slow every
login (a phone polling POP3 every 10 s) without making a stolen table any more useful.
Dovecot hashes what a client sends the same way (%{sha256:password}) and the database
finds the row (dovecot_app_password_login, migration 0016).

The service layer of the CLI and the portal; the callers audit. A revocation or a change
of the requirement returns the logins Dovecot has to forget (its auth cache may hold a
success): the caller passes them to tell_dovecot once its transaction has committed.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbasic.config import Settings
from mailbasic.dovecot_logins import DovecotLogins
from mailbasic.errors import N_, AlreadyExists, InvalidInput, LimitReached, NotAllowed, NotFound
from mailbasic.portal.credentials import credentials_of, digest, has_second_factor
from mailbasic.schema import (
    APP_PASSWORD_PROTOCOLS,
    AppPassword,
    Customer,
    CustomerCredentials,
    Mailbox,
)

SECRET_BYTES = 16        # 128 random bits
GROUP_LENGTH = 4         # "abcd-efgh-...": easier to read off one screen and type on another
NAME_LENGTH = 64         # as the table's check
MAX_PER_MAILBOX = 20     # a device each; more is a script gone wrong


def create(session: Session, mailbox: Mailbox, name: str, protocols: Iterable[str]) -> str:
    """A new app password for the mailbox; returns it, the only time it is readable."""
    name, chosen = valid_name(name), valid_protocols(protocols)
    _lock(session, mailbox)      # concurrent creations: one refusal, never a crash
    if _find(session, mailbox, name) is not None:
        raise AlreadyExists(N_("{mailbox} already has an app password named {name!r}"),
                            mailbox=mailbox.name, name=name)
    if _count(session, mailbox) >= MAX_PER_MAILBOX:
        raise LimitReached(N_("{mailbox} has {count} app passwords already, the most it "
                              "may have: revoke one first"),
                           mailbox=mailbox.name, count=MAX_PER_MAILBOX)
    password = new_password()
    session.add(AppPassword(mailbox_id=mailbox.id, name=name, secret_sha256=digest(password),
                            protocols=chosen))
    session.flush()
    return password


def new_password() -> str:
    """128 random bits as lower-case base32 (no 0/O or 1/l to confuse), grouped by '-'."""
    text = base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=").lower()
    return "-".join(text[at:at + GROUP_LENGTH] for at in range(0, len(text), GROUP_LENGTH))


def valid_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= NAME_LENGTH or not name.isprintable():
        raise InvalidInput(N_("an app password's name is 1 to {length} printable characters, "
                              "e.g. the device it is for"), length=NAME_LENGTH)
    return name


def valid_protocols(protocols: Iterable[str]) -> list[str]:
    """The protocols in their usual order, each once; none or an unknown one is refused."""
    given = {protocol.strip().lower() for protocol in protocols}
    unknown = sorted(given - set(APP_PASSWORD_PROTOCOLS))
    if unknown:
        raise InvalidInput(N_("unknown protocol {protocol}: choose from {protocols}"),
                           protocol=unknown[0], protocols=", ".join(APP_PASSWORD_PROTOCOLS))
    if not given:
        raise InvalidInput(N_("choose at least one protocol for the app password: "
                              "{protocols}"), protocols=", ".join(APP_PASSWORD_PROTOCOLS))
    return [protocol for protocol in APP_PASSWORD_PROTOCOLS if protocol in given]


def list_for(session: Session, mailbox: Mailbox) -> list[AppPassword]:
    return list(session.scalars(select(AppPassword).where(
        AppPassword.mailbox_id == mailbox.id).order_by(AppPassword.name)))


def view(app_password: AppPassword) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None
    return {"id": app_password.id, "name": app_password.name,
            "protocols": list(app_password.protocols),
            "created_at": moment(app_password.created_at),
            "last_used_at": moment(app_password.last_used_at)}


def revoke(session: Session, mailbox: Mailbox, which: int | str) -> AppPassword:
    """Delete the mailbox's app password of this id (the portal) or name (the CLI) and
    return it; Dovecot has to forget the mailbox's login (login_of) after the commit."""
    found = (session.get(AppPassword, which, with_for_update=True) if isinstance(which, int)
             else _find(session, mailbox, which, lock=True))
    if found is None or found.mailbox_id != mailbox.id:
        raise NotFound(N_("{mailbox} has no app password {name!r}"), mailbox=mailbox.name,
                       name=str(which))
    session.delete(found)
    session.flush()
    return found


def set_app_passwords_only(session: Session, customer: Customer, required: bool) -> list[str]:
    """Demand app passwords for IMAP, POP3 and SMTP AUTH of all the customer's mailboxes,
    or stop demanding them; returns the logins Dovecot has to forget. Demanding them needs
    the second factor: else whoever has the portal password could make app passwords."""
    if required and not has_second_factor(session, customer):
        raise NotAllowed(N_("app passwords can be required only with a second factor (TOTP) "
                            "for the portal: turn it on first"))
    credentials_of(session, customer).app_passwords_only = required
    session.flush()
    return [login_of(mailbox) for mailbox in customer.mailboxes]


def app_passwords_only(session: Session, customer: Customer) -> bool:
    credentials = session.get(CustomerCredentials, customer.id)
    return credentials is not None and credentials.app_passwords_only


def login_of(mailbox: Mailbox) -> str:
    """Dovecot's user name of the mailbox (view dovecot_passwords): its primary address,
    in lower case."""
    return mailbox.primary_address.email.lower()


def tell_dovecot(settings: Settings, logins: Iterable[str]) -> list[str]:
    """After the commit: Dovecot forgets the logins' cached successes, so a revoked app
    password or a mailbox password no longer allowed fails from the next login on.
    Returns why Dovecot could not be told, for each login it could not (the change stands;
    auth_cache_ttl bounds how long a cached success could still be used)."""
    dovecot = DovecotLogins.of(settings)
    return [error for login in logins if (error := dovecot.changed(login)) is not None]


def _lock(session: Session, mailbox: Mailbox) -> None:
    session.execute(select(Mailbox.id).where(Mailbox.id == mailbox.id).with_for_update())


def _find(session: Session, mailbox: Mailbox, name: str, *,
          lock: bool = False) -> AppPassword | None:
    query = select(AppPassword).where(AppPassword.mailbox_id == mailbox.id,
                                      AppPassword.name == name.strip())
    return session.scalar(query.with_for_update() if lock else query)


def _count(session: Session, mailbox: Mailbox) -> int:
    return session.scalar(select(func.count()).select_from(AppPassword).where(
        AppPassword.mailbox_id == mailbox.id)) or 0
