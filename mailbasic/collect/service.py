"""Changes to a mailbox's POP3 collection accounts (the CLI now, the portal later)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbasic import accounts
from mailbasic.collect import passwords
from mailbasic.collect.destination import Destinations
from mailbasic.config import Settings, is_domain_name
from mailbasic.errors import N_, AlreadyExists, InvalidInput, NotFound
from mailbasic.schema import CollectAccount, Mailbox, Security

DEFAULT_PORTS = {Security.TLS: 995, Security.STARTTLS: 110, Security.PLAIN: 110}


def add_account(session: Session, settings: Settings, mailbox: str, *, host: str,
                port: int | None, security: Security, username: str, password: str,
                leave_on_server: bool, interval_minutes: int) -> CollectAccount:
    if not _is_host(host):
        raise InvalidInput(N_("not a host name or IP address: {host!r}"), host=host)
    if not username or not password:
        raise InvalidInput(N_("the POP3 user name and password must not be empty"))
    owner = accounts.get_mailbox(session, mailbox)
    port = port or DEFAULT_PORTS[security]
    # Refused here already, so the customer hears it now; the job checks again at
    # every connection, because what the name resolves to may change.
    Destinations.from_settings(settings).check(host.lower(), port)
    if session.scalar(select(CollectAccount).where(
            CollectAccount.mailbox_id == owner.id, CollectAccount.host == host.lower(),
            CollectAccount.port == port, CollectAccount.username == username)):
        raise AlreadyExists(N_("{mailbox} already collects {username} at {host}:{port}"),
                            mailbox=mailbox, username=username, host=host, port=port)
    account = CollectAccount(
        mailbox_id=owner.id, host=host.lower(), port=port, security=security,
        username=username, password_encrypted=passwords.encrypt(settings, password),
        leave_on_server=leave_on_server, interval_minutes=interval_minutes)
    session.add(account)
    session.flush()
    return account


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return ":" not in host  # the table's host syntax: names and IPv4 only
    except ValueError:
        return is_domain_name(host.lower())


def get_account(session: Session, account_id: int) -> CollectAccount:
    account = session.get(CollectAccount, account_id)
    if account is None:
        raise NotFound(N_("no POP3 collection account {account}"), account=account_id)
    return account


def remove_account(session: Session, account_id: int) -> None:
    session.delete(get_account(session, account_id))


def list_accounts(session: Session, mailbox: str | None) -> list[CollectAccount]:
    query = select(CollectAccount).order_by(CollectAccount.id)
    if mailbox:
        query = query.where(CollectAccount.mailbox_id == accounts.get_mailbox(
            session, mailbox).id)
    return list(session.scalars(query))


def account_view(session: Session, account: CollectAccount) -> dict[str, Any]:
    """Everything but the password."""
    mailbox = session.get_one(Mailbox, account.mailbox_id)
    return {"id": account.id, "mailbox": mailbox.name, "host": account.host,
            "port": account.port, "security": account.security.value,
            "username": account.username, "leave_on_server": account.leave_on_server,
            "interval_minutes": account.interval_minutes,
            "last_run_at": account.last_run_at, "last_success_at": account.last_success_at,
            "last_fetched": account.last_fetched, "last_error": account.last_error}
