"""`mailbasic auth blocks` and `auth unblock`: the brute-force defence's blocks (clients,
IPv6 networks and accounts refused for a while after too many failed logins)."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context

if TYPE_CHECKING:
    from mailbasic.schema import AuthBlock


@click.group("auth")
def group() -> None:
    """Login blocks of the brute-force defence (IMAP, POP3, SMTP AUTH, portal)."""


@group.command()
@json_option
@pass_context
def blocks(context: CliContext, as_json: bool) -> None:
    """List the blocks in force, the soonest to end first."""
    from mailbasic.auth_policy import store

    with context.transaction() as session:
        rows = [_view(block) for block in store.blocks_in_force(session, datetime.now(UTC))]
    emit(rows, as_json, "\n".join(
        f"{row['scope']:<8} {row['key']:<40} until {row['blocked_until']:%Y-%m-%d %H:%M:%S}Z"
        f"  {row['failures']} failures  ({row['reason']})" for row in rows)
        or "no blocks in force")


@group.command()
@click.argument("key")
@pass_context
def unblock(context: CliContext, key: str) -> None:
    """Lift the blocks of KEY now and forget its failures: a client address (an IPv6
    one with its /64), a network, or an account (a mailbox login, or a customer name for
    the portal)."""
    from mailbasic import audit
    from mailbasic.auth_policy import store
    from mailbasic.auth_policy.decide import subjects_named
    from mailbasic.errors import NotFound

    actor = audit.Actor(f"admin (CLI, {os.environ.get('SUDO_USER') or getpass.getuser()})")
    with context.transaction() as session:
        lifted = store.lift(session, subjects_named(key), actor.name, datetime.now(UTC))
        if not lifted:
            raise NotFound("no block in force for {key}", key=key)
        audit.record(session, actor, None, "auth unblock", key=key,
                     lifted=[f"{block.scope} {block.key}" for block in lifted])
    for block in lifted:
        click.echo(f"lifted: {block.scope} {block.key} (was blocked until "
                   f"{block.blocked_until.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z)")


def _view(block: AuthBlock) -> dict[str, Any]:
    return {"scope": block.scope, "key": block.key,
            "blocked_at": block.blocked_at.astimezone(UTC),
            "blocked_until": block.blocked_until.astimezone(UTC),
            "failures": block.failures, "reason": block.reason}
