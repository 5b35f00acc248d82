"""`mailbasic abuse list | resume`: logins that sent spam or kept tripping the rate limit
(a leaked password), and lifting the automatic stop of their sending."""

from __future__ import annotations

import getpass
import os
from typing import Any

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context


@click.group("abuse")
def group() -> None:
    """Sending incidents: logins that sent spam or kept tripping the rate limit."""


@group.command("list")
@click.option("--mailbox", help="Only this mailbox's incidents.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@json_option
@pass_context
def list_incidents(context: CliContext, mailbox: str | None, limit: int,
                   as_json: bool) -> None:
    """The incidents, newest first, and whether each stopped the login's sending."""
    from mailbasic.abuse import service

    with context.transaction() as session:
        rows = service.incidents(session, mailbox, limit)
    emit(rows, as_json, "\n".join(_line(row) for row in rows) or "no incidents")


def _line(row: dict[str, Any]) -> str:
    stopped = "  SENDING STOPPED" if row["suspended_submission"] else ""
    return (f"{row['occurred_at'][:19]}  {row['mailbox']}  {row['kind']}"
            f"  client [{row['client_address'] or '-'}]  {row['queue_id'] or '-'}"
            f"  {row['detail']}{stopped}")


@group.command()
@click.argument("mailbox")
@pass_context
def resume(context: CliContext, mailbox: str) -> None:
    """Let MAILBOX send again after an automatic stop (once its password is changed)."""
    from mailbasic import audit
    from mailbasic.abuse import service
    from mailbasic.dovecot_logins import DovecotLogins

    actor = audit.Actor(f"admin (CLI, {os.environ.get('SUDO_USER') or getpass.getuser()})")
    with context.transaction() as session:
        resumed = service.resume(session, actor, mailbox)
        login = resumed.name.lower() if resumed else None
    if login is None:
        click.echo(f"{mailbox}: sending was not suspended, nothing to do")
        return
    # After the commit: Dovecot may hold the refused login in its cache.
    failure = DovecotLogins.of(context.settings).changed(login)
    click.echo(f"{login}: sending resumed")
    if failure:
        click.echo(f"mailbasic: warning: Dovecot was not told ({failure}); its cache may "
                   "refuse SMTP AUTH until auth_cache_ttl passes", err=True)
