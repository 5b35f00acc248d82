"""`mailbasic log search | purge`: the SMTP transaction log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from mailbasic import smtplog
from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.errors import InvalidInput
from mailbasic.schema import SmtpTransaction


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 ("2026-11-24", "2026-11-24T10:00", with or without offset; UTC if none)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a time: {value!r} (use e.g. 2026-11-24 or "
                           "2026-11-24T10:00:00+01:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def transaction_view(row: SmtpTransaction) -> dict:
    return {"logged_at": row.logged_at.isoformat(), "queue_id": row.queue_id,
            "client": f"{row.client_name}[{row.client_address}]", "helo": row.helo,
            "tls": row.tls, "auth_user": row.auth_user, "sender": row.sender,
            "recipients": [{"address": r.address, "outcome": r.outcome}
                           for r in row.recipients],
            "size": row.size, "verdicts": row.verdicts, "reply": row.reply}


def transaction_text(view: dict) -> str:
    recipients = ",".join(f"{r['address']}({r['outcome']})" for r in view["recipients"])
    verdicts = " ".join(f"{stage}={v['verdict']}" for stage, v in view["verdicts"].items())
    return (f"{view['logged_at']} {view['queue_id']}: client={view['client']}"
            f" from=<{view['sender']}> to={recipients or '-'} size={view['size']}"
            f" {verdicts} reply=\"{view['reply']}\"")


@click.group("log")
def group() -> None:
    """The SMTP transaction log."""


@group.command()
@click.option("--address", help="Sender, authenticated user or recipient.")
@click.option("--queue-id", help="Postfix queue id.")
@click.option("--since", help="From this time on (ISO 8601, UTC unless an offset is given).")
@click.option("--until", help="Before this time.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@json_option
@pass_context
def search(context: CliContext, address: str | None, queue_id: str | None,
           since: str | None, until: str | None, limit: int, as_json: bool) -> None:
    """Find logged transactions, newest first."""
    since_time, until_time = parse_time(since), parse_time(until)
    with context.transaction() as session:
        views = [transaction_view(row) for row in smtplog.search(
            session, address=address, queue_id=queue_id, since=since_time,
            until=until_time, limit=limit)]
    emit(views, as_json, "\n".join(transaction_text(view) for view in views))


@group.command()
@click.option("--older-than", "days", type=click.IntRange(1, 36500),
              help="Days to keep (default: log.retention_days of the config).")
@pass_context
def purge(context: CliContext, days: int | None) -> None:
    """Delete transactions older than the retention period."""
    days = days or context.settings.log_retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with context.transaction() as session:
        removed = smtplog.purge(session, cutoff)
    click.echo(f"removed {removed} transactions logged before {cutoff.isoformat()}")
