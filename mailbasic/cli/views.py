"""Accounts as plain data (for --json) and as text lines (for people)."""

from __future__ import annotations

from typing import Any

from mailbasic.accounts import LOGIN_PROTOCOLS
from mailbasic.schema import Address, Customer, Domain, Mailbox


def domain_view(domain: Domain) -> dict[str, Any]:
    catch_all = domain.catch_all_mailbox
    return {"name": domain.name, "catch_all": catch_all.name if catch_all else None}


def address_view(address: Address) -> dict[str, Any]:
    return {"address": address.email, "mailbox": address.mailbox.name,
            "primary": address.is_primary}


def mailbox_view(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "name": mailbox.name,
        "customer": mailbox.customer.name,
        "quota_bytes": mailbox.quota_bytes,
        "receiving": mailbox.receiving_state.value,
        "deactivated_reason": mailbox.deactivated_reason,
        "deactivated_at": mailbox.deactivated_at,
        "last_pop3_login_at": mailbox.last_pop3_login_at,
        "last_imap_login_at": mailbox.last_imap_login_at,
        "last_webmail_login_at": mailbox.last_webmail_login_at,
        "suspended_at": mailbox.suspended_at,
        "suspended_reason": mailbox.suspended_reason,
        "access": {protocol: bool(getattr(mailbox, f"allow_{protocol}"))
                   for protocol in LOGIN_PROTOCOLS},
        "submission_suspended_at": mailbox.submission_suspended_at,
        "submission_suspended_reason": mailbox.submission_suspended_reason,
        "addresses": [address.email for address in mailbox.addresses],
    }


def customer_view(customer: Customer) -> dict[str, Any]:
    return {"name": customer.name, "created_at": customer.created_at,
            "mailboxes": [mailbox_view(mailbox) for mailbox in customer.mailboxes]}


def mailbox_text(view: dict[str, Any]) -> str:
    lines = [f"mailbox    {view['name']}",
             f"customer   {view['customer']}",
             f"quota      {view['quota_bytes']} bytes",
             f"receiving  {view['receiving']}"]
    if view["deactivated_at"]:
        lines.append(f"           since {view['deactivated_at']}"
                     + (f": {view['deactivated_reason']}" if view["deactivated_reason"] else ""))
    for protocol in ("pop3", "imap"):
        lines.append(f"last {protocol.upper()}  {view[f'last_{protocol}_login_at'] or 'never'}")
    lines.append(f"logins     {login_state(view)}")
    lines.extend(f"address    {address}" for address in view["addresses"])
    return "\n".join(lines)


def login_state(view: dict[str, Any]) -> str:
    """"suspended since ...: reason", or the protocols allowed and denied."""
    if view["suspended_at"]:
        return f"suspended since {view['suspended_at']}: {view['suspended_reason']}"
    state = ", ".join(f"{protocol} {'on' if allowed else 'off'}"
                      for protocol, allowed in view["access"].items())
    if view["submission_suspended_at"]:
        state += (f"; SMTP AUTH stopped since {view['submission_suspended_at']}: "
                  f"{view['submission_suspended_reason']}")
    return state


def customer_text(view: dict[str, Any]) -> str:
    return "\n\n".join([f"customer   {view['name']}\ncreated    {view['created_at']}"]
                       + [mailbox_text(mailbox) for mailbox in view["mailboxes"]])
