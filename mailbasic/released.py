"""Addresses given up (a customer deleted, an alias removed): no mail meant for the old
owner may reach whoever takes the address next.

- Others' forwards to a released address are removed, and so are the Sieve redirects to
  it in others' filters (the message then stays in that mailbox: nothing is lost).
- For service.address_hold_days nobody but the last customer may take it again.
- Its mailbox's quota usage (which Dovecot keeps per login) goes with it, so a new
  mailbox under the same name starts empty.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from mailbasic.config import Settings
from mailbasic.errors import NotAllowed
from mailbasic.schema import Forward, QuotaUsage, ReleasedAddress


def release(session: Session, addresses: list[str], customer_id: int) -> None:
    """Record the addresses as released by this customer and cut what still points at
    them. Called before the addresses' rows go."""
    if not addresses:
        return
    lowered = [address.lower() for address in addresses]
    statement = insert(ReleasedAddress).values(
        [{"address": address, "customer_id": customer_id} for address in lowered])
    session.execute(statement.on_conflict_do_update(
        index_elements=[ReleasedAddress.address],
        set_={"customer_id": statement.excluded.customer_id, "released_at": func.now()}))
    session.execute(delete(Forward).where(func.lower(Forward.target).in_(lowered)))
    # Here, not at the top: the Sieve reader is heavy, and most commands never get here.
    from mailbasic.rules.redirects import remove_redirects_to
    remove_redirects_to(session, lowered)


def forget_usage(session: Session, login: str) -> None:
    """Dovecot keeps quota usage by login; a mailbox deleted or new under that login must
    not inherit it."""
    session.execute(delete(QuotaUsage).where(QuotaUsage.username == login.lower()))


def refuse_held(session: Session, settings: Settings, address: str,
                customer_id: int | None) -> None:
    """NotAllowed while the address is held for the customer who released it."""
    if settings.address_hold_days == 0:
        return
    held = session.get(ReleasedAddress, address.lower())
    if held is None or held.customer_id == customer_id:
        return
    until = held.released_at + timedelta(days=settings.address_hold_days)
    if until > datetime.now(UTC):
        raise NotAllowed("the address {address} was given up on {released:%Y-%m-%d} and "
                         "is held until {until:%Y-%m-%d} (service.address_hold_days), so "
                         "that mail for its former owner reaches nobody else",
                         address=address, released=held.released_at, until=until)
