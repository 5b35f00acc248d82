"""The admin's side of sending incidents: list them, and let a login send again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailbasic import audit
from mailbasic.accounts import get_mailbox
from mailbasic.schema import Address, Mailbox, SendingIncident


def incidents(session: Session, mailbox_name: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first: each incident, and whether it stopped the login's submission."""
    query = (select(SendingIncident, Mailbox)
             .join(Mailbox, Mailbox.id == SendingIncident.mailbox_id)
             .options(selectinload(Mailbox.addresses).selectinload(Address.domain))
             .order_by(SendingIncident.occurred_at.desc(), SendingIncident.id.desc())
             .limit(limit))
    if mailbox_name is not None:
        query = query.where(SendingIncident.mailbox_id
                            == get_mailbox(session, mailbox_name).id)
    return [_view(incident, mailbox) for incident, mailbox in session.execute(query)]


def _view(incident: SendingIncident, mailbox: Mailbox) -> dict[str, Any]:
    return {"id": incident.id, "mailbox": mailbox.name, "kind": incident.kind,
            "occurred_at": incident.occurred_at.isoformat(), "queue_id": incident.queue_id,
            "client_address": incident.client_address, "detail": incident.detail,
            "suspended_submission": incident.suspended_submission,
            # Whether the mailbox is still stopped now (until `abuse resume`).
            "submission_suspended_now": mailbox.submission_suspended_at is not None}


def resume(session: Session, actor: audit.Actor, mailbox_name: str) -> Mailbox | None:
    """Lift the automatic stop of the mailbox's SMTP AUTH (audited); None when it was not
    stopped (nothing to do: resuming twice is no error). The caller tells Dovecot after
    the commit (DovecotLogins.changed)."""
    mailbox = get_mailbox(session, mailbox_name, lock=True)
    if mailbox.submission_suspended_at is None:
        return None
    audit.record(session, actor, mailbox.customer, "abuse resume", mailbox=mailbox.name,
                 suspended_at=mailbox.submission_suspended_at.isoformat(),
                 reason=mailbox.submission_suspended_reason)
    mailbox.submission_suspended_at = mailbox.submission_suspended_reason = None
    return mailbox
