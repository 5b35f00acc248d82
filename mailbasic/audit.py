"""The audit log: every change to a customer's settings, by whom, when, from where.

Written in the same transaction as the change it describes, so there is no change
without its record and no record of a change that was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbasic.schema import AuditEvent, Customer


@dataclass(frozen=True)
class Actor:
    """Who acts: "customer alice", "support bob (read-only)", "admin", "api billing"."""

    name: str
    client_address: str | None = None


ADMIN = Actor("admin (CLI)")


def record(session: Session, actor: Actor, customer: Customer | None, action: str,
           **detail: Any) -> AuditEvent:
    event = AuditEvent(actor=actor.name, customer_id=customer.id if customer else None,
                       client_address=actor.client_address, action=action, detail=detail)
    session.add(event)
    session.flush()
    session.info["audited"] = True   # the CLI adds no generic record of its own then
    return event


def search(session: Session, *, customer: Customer | None = None,
           since: datetime | None = None, limit: int = 100) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if customer is not None:
        query = query.where(AuditEvent.customer_id == customer.id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    return list(session.scalars(query))


def view(event: AuditEvent) -> dict[str, Any]:
    return {"at": event.at.isoformat(), "actor": event.actor,
            "client_address": event.client_address, "action": event.action,
            "detail": event.detail}
