"""The service layer for customers, domains, mailboxes and addresses.

The CLI (and later the portal) changes accounts only through these functions. They check
the account rules first so that a refusal reads well; the database constraints hold the
same rules for whatever gets past (races, hand-written SQL). Every function works inside
the caller's transaction: a refusal raised halfway leaves nothing written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailbasic import dovecot_logins, released
from mailbasic.config import Settings, check_size, is_domain_name, service_host_names
from mailbasic.errors import AlreadyExists, InvalidInput, LimitReached, NotAllowed, NotFound
from mailbasic.passwords import hash_password
from mailbasic.schema import (
    MAX_ADDRESSES,
    MAX_MAILBOXES,
    Address,
    Customer,
    Domain,
    Mailbox,
    ReceivingState,
)
from mailbasic.schema.models import LOCAL_PART_PATTERN
from mailbasic.srs import srs_domain

_LOCAL_PART = re.compile(LOCAL_PART_PATTERN)


def validate_local_part(local_part: str) -> str:
    """Explain exactly which rule a local part breaks (5-30 of a-zA-Z0-9-., first a letter)."""
    if not 5 <= len(local_part) <= 30:
        raise InvalidInput("{local_part!r}: the name before @ must have 5 to 30 characters",
                           local_part=local_part)
    if not local_part[0].isascii() or not local_part[0].isalpha():
        raise InvalidInput("{local_part!r}: the name before @ must start with a letter",
                           local_part=local_part)
    if not _LOCAL_PART.match(local_part):
        raise InvalidInput("{local_part!r}: only letters a-z, digits, '-' and '.' are allowed",
                           local_part=local_part)
    return local_part


def refuse_reserved(settings: Settings, local_part: str) -> None:
    """Role addresses (postmaster, abuse, ...) stay with the service's operators."""
    if local_part.lower() in settings.reserved_local_parts:
        raise NotAllowed("{local_part!r} is reserved for the service's role addresses "
                         "(RFC 2142, service.reserved_local_parts) and cannot be taken; "
                         "choose another name", local_part=local_part)


def split_address(address: str) -> tuple[str, str]:
    local_part, at, domain = address.strip().rpartition("@")
    if not at or not local_part or not domain:
        raise InvalidInput("{address!r} is not an e-mail address (name@domain)",
                           address=address)
    return local_part, domain.lower()


def validate_domain(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    if not is_domain_name(name):
        raise InvalidInput(f"{name!r} is not a domain name")
    return name


# --- lookups -------------------------------------------------------------------------

def get_domain(session: Session, name: str, *, lock: bool = False) -> Domain:
    query = select(Domain).where(Domain.name == name.lower())
    domain = session.scalar(query.with_for_update() if lock else query)
    if domain is None:
        raise NotFound("domain {name} is not hosted here", name=name)
    return domain


def get_customer(session: Session, name: str, *, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.name == name)
    customer = session.scalar(query.with_for_update() if lock else query)
    if customer is None:
        raise NotFound(f"no customer named {name}")
    return customer


def find_address(session: Session, address: str) -> Address:
    local_part, domain_name = split_address(address)
    found = session.scalar(select(Address).join(Domain).where(
        Address.local_part == local_part, Domain.name == domain_name))
    if found is None:
        raise NotFound("address {address} does not exist", address=address)
    return found


def get_mailbox(session: Session, name: str, *, lock: bool = False) -> Mailbox:
    """A mailbox by its name, which is its primary address."""
    address = find_address(session, name)
    if not address.is_primary:
        raise NotFound(f"{name} is not a mailbox; it is an address of the mailbox "
                       f"{address.mailbox.name}")
    if lock:
        session.execute(select(Mailbox.id).where(Mailbox.id == address.mailbox_id)
                        .with_for_update())
    return address.mailbox


def list_customers(session: Session) -> list[Customer]:
    return list(session.scalars(select(Customer).order_by(Customer.name)))


def list_domains(session: Session) -> list[Domain]:
    return list(session.scalars(select(Domain).order_by(Domain.name)))


def list_addresses(session: Session, mailbox: str | None = None) -> list[Address]:
    query = select(Address).join(Domain).order_by(Domain.name, Address.local_part)
    if mailbox is not None:
        query = query.where(Address.mailbox_id == get_mailbox(session, mailbox).id)
    return list(session.scalars(query))


# --- domains -------------------------------------------------------------------------

def add_domain(session: Session, settings: Settings, name: str) -> Domain:
    name = validate_domain(name)
    _refuse_service_name(settings, name)
    if session.scalar(select(Domain).where(Domain.name == name)) is not None:
        raise AlreadyExists(f"domain {name} is already hosted")
    domain = Domain(name=name)
    session.add(domain)
    session.flush()
    return domain


def _refuse_service_name(settings: Settings, name: str) -> None:
    """The service's own names are routed to the service itself (Postfix's SRS table, its
    host names); hosting one as a customer domain would take their mail away."""
    srs = srs_domain(settings)
    if name == srs:
        raise NotAllowed(f"{name} is the service's SRS domain (forwarding.srs_domain), "
                         "whose addresses route bounces of forwarded mail, and cannot be "
                         "hosted")
    if name.endswith("." + srs):
        raise NotAllowed(f"{name} is below the service's SRS domain {srs} "
                         "(forwarding.srs_domain) and cannot be hosted")
    if name in service_host_names(settings):
        raise NotAllowed(f"{name} is a host name of the service itself "
                         "(service.host_names) and cannot be hosted")


def remove_domain(session: Session, name: str, *, with_addresses: bool = False) -> int:
    """Stop hosting a domain; with_addresses also removes its (non-primary) addresses.
    Returns how many addresses went. The catch-all is the domain's own and goes with it."""
    domain = get_domain(session, name, lock=True)
    addresses = list(session.scalars(select(Address).where(Address.domain_id == domain.id)
                                     .order_by(Address.local_part)))
    _refuse_primary_addresses(domain, [address for address in addresses
                                       if address.is_primary])
    if addresses and not with_addresses:
        raise NotAllowed(f"domain {domain.name} still has {_count(addresses, 'address')}; "
                         "remove them first, or give --with-addresses to remove them "
                         "with the domain")
    # addresses.domain_id is ON DELETE RESTRICT, so the addresses go first (their
    # forwards cascade); the primary addresses are untouched, see above.
    for address in addresses:
        released.release(session, [address.email], address.mailbox.customer_id)
    session.execute(delete(Address).where(Address.domain_id == domain.id))
    session.delete(domain)
    session.flush()
    return len(addresses)


def _refuse_primary_addresses(domain: Domain, primaries: list[Address]) -> None:
    """Every mailbox keeps its primary address, so not even --with-addresses takes one:
    its customer has to go first."""
    if not primaries:
        return
    customers = sorted({address.mailbox.customer.name for address in primaries})
    raise NotAllowed(
        f"domain {domain.name} holds the primary address of "
        f"{_count(primaries, 'mailbox')} ({', '.join(a.email for a in primaries)}), and "
        "every mailbox keeps its primary address: delete "
        f"{'the customer' if len(customers) == 1 else 'the customers'} "
        f"{', '.join(customers)} first (mailbasic customer delete NAME)")


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 'es'}"


def set_catch_all(session: Session, domain_name: str, mailbox: str | None) -> Domain:
    domain = get_domain(session, domain_name)
    domain.catch_all_mailbox = get_mailbox(session, mailbox) if mailbox else None
    session.flush()
    return domain


# --- customers and mailboxes ---------------------------------------------------------

def add_customer(session: Session, settings: Settings, name: str, domain_name: str,
                 password: str) -> Customer:
    """A customer and its first mailbox, whose primary address is name@domain."""
    validate_local_part(name)
    refuse_reserved(settings, name)
    domain = get_domain(session, domain_name)
    if session.scalar(select(Customer).where(Customer.name == name)) is not None:
        raise AlreadyExists(f"customer {name} already exists")
    _refuse_taken(session, name, domain)
    released.refuse_held(session, settings, f"{name}@{domain.name}", None)
    customer = Customer(name=name)
    session.add(customer)
    _create_mailbox(session, settings, customer, 1, name, domain, password)
    return customer


def add_mailbox(session: Session, settings: Settings, customer_name: str, address: str,
                password: str) -> Mailbox:
    """The customer's further mailbox (customer service only)."""
    customer = get_customer(session, customer_name, lock=True)
    local_part, domain_name = split_address(address)
    validate_local_part(local_part)
    refuse_reserved(settings, local_part)
    domain = get_domain(session, domain_name)
    _refuse_taken(session, local_part, domain)
    released.refuse_held(session, settings, f"{local_part}@{domain.name}", customer.id)
    slot = _free_slot({mailbox.slot for mailbox in customer.mailboxes}, MAX_MAILBOXES,
                      LimitReached("customer {customer} already has {limit} mailboxes",
                                   customer=customer.name, limit=MAX_MAILBOXES))
    return _create_mailbox(session, settings, customer, slot, local_part, domain, password)


def _create_mailbox(session: Session, settings: Settings, customer: Customer, slot: int,
                    local_part: str, domain: Domain, password: str) -> Mailbox:
    mailbox = Mailbox(customer=customer, slot=slot, quota_bytes=settings.default_quota_bytes,
                      password_hash=hash_password(password, settings.bcrypt_cost))
    session.add(mailbox)
    session.add(Address(mailbox=mailbox, local_part=local_part, domain=domain, slot=1,
                        is_primary=True))
    released.forget_usage(session, f"{local_part}@{domain.name}")
    session.flush()
    return mailbox


def delete_customer(session: Session, name: str) -> None:
    """The customer, its mailboxes and addresses; the addresses are released (held, and
    cut from others' forwards and filters), the mailboxes' quota usage forgotten."""
    customer = get_customer(session, name, lock=True)
    # Read with a query, not through customer.mailboxes: loaded children would make the
    # ORM detach them instead of letting the database's ON DELETE CASCADE remove them.
    addresses = session.execute(
        select(Address.local_part + "@" + Domain.name, Address.is_primary)
        .join(Domain, Domain.id == Address.domain_id)
        .join(Mailbox, Mailbox.id == Address.mailbox_id)
        .where(Mailbox.customer_id == customer.id)).all()
    released.release(session, [address for address, _ in addresses], customer.id)
    for login, is_primary in addresses:
        if is_primary:
            released.forget_usage(session, login)
    session.delete(customer)
    session.flush()


def set_password(session: Session, settings: Settings, mailbox: str, password: str) -> None:
    found = get_mailbox(session, mailbox)
    found.password_hash = hash_password(password, settings.bcrypt_cost)
    # Dovecot's cache must not take the old password any longer.
    dovecot_logins.after_commit(session, settings, found.name.lower())


def set_quota(session: Session, mailbox: str, quota_bytes: int) -> Mailbox:
    try:
        check_size(quota_bytes)
    except ValueError as error:
        raise InvalidInput(f"quota: {error}") from None
    found = get_mailbox(session, mailbox)
    found.quota_bytes = quota_bytes
    return found


def deactivate(session: Session, mailbox: str, reason: str | None) -> Mailbox:
    found = get_mailbox(session, mailbox)
    if found.receiving_state is ReceivingState.DEACTIVATED:
        raise NotAllowed(f"mailbox {mailbox} is already deactivated")
    found.receiving_state = ReceivingState.DEACTIVATED
    found.deactivated_reason = reason
    found.deactivated_at = datetime.now(UTC)
    return found


def reactivate(session: Session, mailbox: str) -> Mailbox:
    found = get_mailbox(session, mailbox)
    if found.receiving_state is ReceivingState.ACTIVE:
        raise NotAllowed("mailbox {mailbox} is active already", mailbox=mailbox)
    found.receiving_state = ReceivingState.ACTIVE
    found.deactivated_reason = None
    found.deactivated_at = None
    # The inactivity rules count from here, or the mailbox would be deactivated again.
    found.reactivated_at = datetime.now(UTC)
    return found


# --- logins --------------------------------------------------------------------------
# Apart from receiving: a suspended mailbox receives mail, but no login works. Dovecot's
# passdb reads both (view dovecot_passwords); after the commit, the caller tells Dovecot
# (dovecot_logins.after_commit) so no cached login or open session outlives the change.

LOGIN_PROTOCOLS = ("imap", "pop3", "smtp", "webmail")
DEFAULT_SUSPENSION_REASON = "suspended by the provider"


def suspend(session: Session, settings: Settings, mailbox: str,
            reason: str | None) -> Mailbox:
    found = get_mailbox(session, mailbox, lock=True)
    if found.suspended_at is not None:
        raise NotAllowed("mailbox {mailbox} is suspended already", mailbox=mailbox)
    found.suspended_at = datetime.now(UTC)
    found.suspended_reason = reason or DEFAULT_SUSPENSION_REASON
    dovecot_logins.after_commit(session, settings, found.name.lower(), close_sessions=True)
    return found


def resume(session: Session, settings: Settings, mailbox: str) -> Mailbox:
    found = get_mailbox(session, mailbox, lock=True)
    if found.suspended_at is None:
        raise NotAllowed("mailbox {mailbox} is not suspended", mailbox=mailbox)
    found.suspended_at = found.suspended_reason = None
    dovecot_logins.after_commit(session, settings, found.name.lower())
    return found


def set_access(session: Session, settings: Settings, mailbox: str,
               allowed: Mapping[str, bool]) -> Mailbox:
    """Allow or deny each named protocol (LOGIN_PROTOCOLS) for the mailbox's logins."""
    unknown = sorted(set(allowed) - set(LOGIN_PROTOCOLS))
    if unknown:
        raise InvalidInput("unknown protocol {protocol}: use {protocols}",
                           protocol=unknown[0], protocols=", ".join(LOGIN_PROTOCOLS))
    found = get_mailbox(session, mailbox, lock=True)
    for protocol, allow in allowed.items():
        setattr(found, f"allow_{protocol}", allow)
    dovecot_logins.after_commit(session, settings, found.name.lower(),
                                close_sessions=not all(allowed.values()))
    return found


def access_of(mailbox: Mailbox) -> dict[str, bool]:
    return {protocol: bool(getattr(mailbox, f"allow_{protocol}"))
            for protocol in LOGIN_PROTOCOLS}


def customer_suspended(session: Session, customer_id: int) -> bool:
    """Whether the provider suspended any of the customer's mailboxes: the customer's
    portal login stops too."""
    return session.scalar(select(func.count()).select_from(Mailbox).where(
        Mailbox.customer_id == customer_id, Mailbox.suspended_at.is_not(None))) != 0


# --- addresses -----------------------------------------------------------------------

def add_address(session: Session, settings: Settings, address: str,
                mailbox: str) -> Address:
    target = get_mailbox(session, mailbox, lock=True)
    local_part, domain_name = split_address(address)
    validate_local_part(local_part)
    refuse_reserved(settings, local_part)
    domain = get_domain(session, domain_name)
    _refuse_taken(session, local_part, domain)
    released.refuse_held(session, settings, f"{local_part}@{domain.name}", target.customer_id)
    created = Address(mailbox=target, local_part=local_part, domain=domain,
                      slot=_free_address_slot(target), is_primary=False)
    session.add(created)
    session.flush()
    return created


def remove_address(session: Session, address: str) -> None:
    found = find_address(session, address)
    if found.is_primary:
        raise NotAllowed("{address} is the primary address of its mailbox and cannot be "
                         "removed (every mailbox keeps its primary address)", address=address)
    released.release(session, [found.email], found.mailbox.customer_id)
    session.delete(found)
    session.flush()


def move_address(session: Session, address: str, mailbox: str) -> Address:
    found = find_address(session, address)
    target = get_mailbox(session, mailbox, lock=True)
    if found.is_primary:
        raise NotAllowed("{address} is the primary address of its mailbox and cannot move",
                         address=address)
    if target.customer_id != found.mailbox.customer_id:
        raise NotAllowed("{mailbox} belongs to another customer; addresses move only "
                         "between one customer's mailboxes", mailbox=mailbox)
    if target.id == found.mailbox_id:
        raise NotAllowed("{address} is already in mailbox {mailbox}", address=address,
                         mailbox=mailbox)
    found.slot = _free_address_slot(target)
    found.mailbox = target
    session.flush()
    return found


def _free_address_slot(mailbox: Mailbox) -> int:
    taken = {address.slot for address in mailbox.addresses}
    return _free_slot(taken, MAX_ADDRESSES, LimitReached(
        "mailbox {mailbox} already has {limit} addresses (1 primary + {more})",
        mailbox=mailbox.name, limit=MAX_ADDRESSES, more=MAX_ADDRESSES - 1))


def _free_slot(taken: set[int], maximum: int, refusal: LimitReached) -> int:
    for slot in range(1, maximum + 1):
        if slot not in taken:
            return slot
    raise refusal


def _refuse_taken(session: Session, local_part: str, domain: Domain) -> None:
    taken = session.scalar(select(func.count()).select_from(Address).where(
        Address.domain_id == domain.id, Address.local_part == local_part))
    if taken:
        raise AlreadyExists("the address {address} is already taken",
                            address=f"{local_part}@{domain.name}")
