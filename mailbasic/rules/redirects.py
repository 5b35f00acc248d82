"""Take redirects and notifications to given addresses out of every mailbox's filters:
the addresses were given up, and whoever gets one next must not receive mail meant for
its former owner. The message a removed redirect would have sent away stays in the
mailbox instead (the implicit keep), so nothing is lost."""

from __future__ import annotations

import dataclasses

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from mailbasic.rules import model, sieve
from mailbasic.schema import MailboxRules


def remove_redirects_to(session: Session, addresses: list[str]) -> int:
    """How many mailboxes' filters changed."""
    targets = {address.lower() for address in addresses}
    # Only scripts that mention an address at all are parsed.
    candidates = session.execute(select(MailboxRules.mailbox_id, MailboxRules.filters).where(
        or_(*(MailboxRules.filters.ilike(f"%{address}%") for address in targets)))).all()
    changed = 0
    for mailbox_id, text in candidates:
        script = sieve.parse(text)
        kept = model.Script(_without(script.commands, targets))
        if kept != script:
            session.execute(update(MailboxRules).where(MailboxRules.mailbox_id == mailbox_id)
                            .values(filters=sieve.render(kept) if kept.commands else ""))
            changed += 1
    return changed


def _without(commands: model.Block, targets: set[str]) -> model.Block:
    kept: list[model.Command] = []
    for command in commands:
        if isinstance(command, model.Redirect) and command.address.lower() in targets:
            continue
        if isinstance(command, model.Notify) and _mailto(command.address) in targets:
            continue
        if isinstance(command, model.If):
            command = dataclasses.replace(
                command,
                branches=tuple((test, _without(block, targets))
                               for test, block in command.branches),
                otherwise=(None if command.otherwise is None
                           else _without(command.otherwise, targets)))
        kept.append(command)
    return tuple(kept)


def _mailto(address: str) -> str:
    return address.lower().removeprefix("mailto:").split("?", 1)[0]
