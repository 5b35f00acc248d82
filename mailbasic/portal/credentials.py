"""Portal credentials of a customer: the password, the optional TOTP second factor with
its recovery codes, one-time invitation links and read-only support links.

The service layer for the CLI (`customer passwd`, `customer invite`, `customer
support-link`) and the portal alike; every change is audited by the caller's actor.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbasic import audit
from mailbasic.accounts import get_customer
from mailbasic.config import Settings
from mailbasic.errors import InvalidInput, NotAllowed, NotFound
from mailbasic.passwords import hash_password, verify_password
from mailbasic.schema import Customer, CustomerCredentials, PortalToken, RecoveryCode

RECOVERY_CODES = 10
TOTP_ISSUER = "mailbasic"


@functools.lru_cache(maxsize=4)
def _no_password(cost: int) -> str:
    """A bcrypt hash of nothing anyone can type, at the configured cost: checking against
    it takes what a real check takes, so a login for an unknown customer (or one without
    a portal password) is as slow as one with a wrong password: no telling them apart."""
    return hash_password("x" * 16 + secrets.token_hex(8), cost)


def digest(token: str) -> str:
    """Tokens and recovery codes are 128-bit random: SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def credentials_of(session: Session, customer: Customer) -> CustomerCredentials:
    found = session.get(CustomerCredentials, customer.id)
    if found is None:
        found = CustomerCredentials(customer_id=customer.id, session_epoch=0)
        session.add(found)
        session.flush()
    return found


def set_password(session: Session, settings: Settings, actor: audit.Actor, name: str,
                 password: str) -> Customer:
    customer = get_customer(session, name)
    credentials = credentials_of(session, customer)
    credentials.password_hash = hash_password(password, settings.bcrypt_cost)
    credentials.session_epoch += 1       # every other session is logged out
    credentials.updated_at = datetime.now(UTC)
    audit.record(session, actor, customer, "portal password set")
    return customer


def change_password(session: Session, settings: Settings, actor: audit.Actor,
                    customer: Customer, current: str, new: str) -> None:
    if not check_password(session, settings, customer, current):
        raise NotAllowed("the current password is not right")
    set_password(session, settings, actor, customer.name, new)


def check_password(session: Session, settings: Settings, customer: Customer | None,
                   password: str) -> bool:
    stored = None
    if customer is not None:
        credentials = session.get(CustomerCredentials, customer.id)
        stored = credentials.password_hash if credentials else None
    matches = verify_password(password, stored or _no_password(settings.bcrypt_cost))
    return matches and stored is not None


@dataclass(frozen=True)
class Issued:
    url: str
    expires_at: datetime


def issue_link(session: Session, settings: Settings, actor: audit.Actor, name: str,
               kind: str, hours: int | None = None) -> Issued:
    """An invitation (set the password once) or a support link (read-only view)."""
    customer = get_customer(session, name)
    token = secrets.token_urlsafe(16)
    expires = datetime.now(UTC) + timedelta(hours=hours or settings.portal_invite_hours)
    session.add(PortalToken(token_hash=digest(token), kind=kind, customer_id=customer.id,
                            created_by=actor.name, expires_at=expires))
    audit.record(session, actor, customer, f"{kind} link created",
                 expires_at=expires.isoformat())
    path = "invite" if kind == "invite" else "support"
    return Issued(f"{settings.portal_base_url}/{path}/{token}", expires)


def redeem_link(session: Session, token: str, kind: str) -> tuple[Customer, PortalToken]:
    """The customer a valid, unexpired link is for; an invitation is used up by its
    caller (use_link) once the password is set."""
    row = session.get(PortalToken, digest(token))
    now = datetime.now(UTC)
    if row is None or row.kind != kind or row.expires_at <= now or \
            (kind == "invite" and row.used_at is not None):
        raise NotFound("this link is not valid (any more); ask for a new one")
    return session.get_one(Customer, row.customer_id), row


def use_link(row: PortalToken) -> None:
    row.used_at = datetime.now(UTC)


# -- TOTP -----------------------------------------------------------------------------

def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, customer: Customer) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=customer.name, issuer_name=TOTP_ISSUER)


def enable_totp(session: Session, actor: audit.Actor, customer: Customer, secret: str,
                code: str) -> list[str]:
    """Turn the second factor on once the customer proves their app has the secret;
    returns the recovery codes, shown once."""
    credentials = credentials_of(session, customer)
    credentials.totp_secret, credentials.totp_last_step = secret, None
    if not _fresh_totp(credentials, code.strip()):   # the code is used up by this, too
        raise InvalidInput("the code does not match: check the time on your phone")
    audit.record(session, actor, customer, "second factor enabled")
    return new_recovery_codes(session, customer)


def disable_totp(session: Session, actor: audit.Actor, customer: Customer) -> None:
    credentials_of(session, customer).totp_secret = None
    session.execute(update(RecoveryCode).where(RecoveryCode.customer_id == customer.id,
                                               RecoveryCode.used_at.is_(None))
                    .values(used_at=datetime.now(UTC)))
    audit.record(session, actor, customer, "second factor disabled")


def new_recovery_codes(session: Session, customer: Customer) -> list[str]:
    session.execute(update(RecoveryCode).where(RecoveryCode.customer_id == customer.id,
                                               RecoveryCode.used_at.is_(None))
                    .values(used_at=datetime.now(UTC)))
    codes = [secrets.token_hex(8) for _ in range(RECOVERY_CODES)]   # 64 bits each
    session.add_all(RecoveryCode(customer_id=customer.id, code_hash=digest(code))
                    for code in codes)
    session.flush()
    return codes


def check_second_factor(session: Session, customer: Customer, code: str) -> bool:
    """A current TOTP code, or an unused recovery code (then used up)."""
    credentials = session.get(CustomerCredentials, customer.id)
    if credentials is None or credentials.totp_secret is None:
        return True
    code = code.strip().replace(" ", "")
    if code.isdigit() and len(code) == 6:
        return _fresh_totp(credentials, code)
    recovery = session.scalar(select(RecoveryCode).where(
        RecoveryCode.customer_id == customer.id, RecoveryCode.code_hash == digest(code.lower()),
        RecoveryCode.used_at.is_(None)).with_for_update())
    if recovery is None:
        return False
    recovery.used_at = datetime.now(UTC)
    return True


def _fresh_totp(credentials: CustomerCredentials, code: str) -> bool:
    """The code of the current 30 s step or a neighbour (clocks drift), and of a later step
    than the last one accepted: a code seen by someone else is worth nothing after use."""
    assert credentials.totp_secret is not None
    totp = pyotp.TOTP(credentials.totp_secret)
    now = totp.timecode(datetime.now(UTC))
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and \
                step > (credentials.totp_last_step or -1):
            credentials.totp_last_step = step
            return True
    return False


def has_second_factor(session: Session, customer: Customer) -> bool:
    credentials = session.get(CustomerCredentials, customer.id)
    return credentials is not None and credentials.totp_secret is not None


def session_epoch(session: Session, customer_id: int) -> int:
    credentials = session.get(CustomerCredentials, customer_id)
    return credentials.session_epoch if credentials else 0
