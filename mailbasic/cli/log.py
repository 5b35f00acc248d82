"""`mailbasic log search | sessions | purge`: the SMTP transaction log and the delivery
record (what Postfix did next, every SMTP session)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from mailbasic import smtplog
from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.errors import InvalidInput

_AGO = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 ("2026-11-24", "2026-11-24T10:00", with or without offset; UTC if none),
    or a time ago: "90s", "30m", "1h", "7d"."""
    if value is None:
        return None
    if match := _AGO.match(value.strip()):
        return datetime.now(UTC) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a time: {value!r} (use e.g. 2026-11-24, "
                           "2026-11-24T10:00:00+01:00 or 1h)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group("log")
def group() -> None:
    """The SMTP transaction log and the delivery record."""


@group.command()
@click.option("--address", help="Sender, authenticated user or recipient.")
@click.option("--queue-id", help="Postfix queue id.")
@click.option("--since", help="From this time on (ISO 8601, UTC unless an offset is "
              "given, or ago: 30m, 1h, 7d).")
@click.option("--until", help="Before this time.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--auth-failures", is_flag=True,
              help="Instead: failed SMTP logins by client address (default --since 1h).")
@json_option
@pass_context
def search(context: CliContext, address: str | None, queue_id: str | None,
           since: str | None, until: str | None, limit: int, auth_failures: bool,
           as_json: bool) -> None:
    """Find messages, newest first, each with its whole story: arrival, the stages'
    verdicts, each recipient's delivery attempts up to the final reply of the server
    that took it, and the messages it caused."""
    from mailbasic.delivery import story

    if auth_failures:
        if address or queue_id or until:
            raise InvalidInput("--auth-failures takes only --since")
        with context.transaction() as session:
            failures = story.auth_failures(session, parse_time(since or "1h")
                                           or datetime.now(UTC))
        emit(failures, as_json, "\n".join(
            f"{row['client_address']}: {row['failures']} failed, "
            f"{row['first']} to {row['last']}, logins tried: "
            f"{', '.join(row['usernames']) or '-'}" for row in failures))
        return
    since_time, until_time = parse_time(since), parse_time(until)
    with context.transaction() as session:
        views = [story.story(session, row) for row in smtplog.search(
            session, address=address, queue_id=queue_id, since=since_time,
            until=until_time, limit=limit)]
    emit(views, as_json, "\n\n".join(story_text(view) for view in views))


@group.command("sessions")
@click.option("--since", default="1h", show_default=True,
              help="From this time on (ISO 8601 or ago: 30m, 1h, 7d).")
@click.option("--client", help="Only this client address.")
@click.option("--without-transaction", is_flag=True,
              help="Only sessions that never queued a message.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@json_option
@pass_context
def sessions(context: CliContext, since: str, client: str | None, without_transaction: bool,
             limit: int, as_json: bool) -> None:
    """SMTP sessions, newest first: client, HELO, TLS, logins, refusals, how it ended."""
    from mailbasic.delivery import story

    with context.transaction() as session:
        views = story.sessions(session, parse_time(since) or datetime.now(UTC), client,
                               without_transaction, limit)
    emit(views, as_json, "\n".join(session_text(view) for view in views))


def session_text(view: dict[str, Any]) -> str:
    parts = [f"{view['connected_at']} {view['service']} {view['client']}",
             f"helo={view['helo'] or '-'}", f"tls={view['tls'] or '-'}"]
    if view["auth_user"]:
        parts.append(f"login={view['auth_user']}")
    parts += [f"auth failed ({failure['mechanism']}, {failure['username'] or '?'})"
              for failure in view["auth_failures"]]
    parts += [f"refused {refusal['stage']}: {refusal['reply']}"
              for refusal in view["refusals"]]
    if view["queue_ids"]:
        parts.append("queued " + ",".join(view["queue_ids"]))
    parts.append(f"end={view['end'] or 'open'}")
    return " ".join(parts)


def story_text(view: dict[str, Any], indent: str = "") -> str:
    lines = [f"{indent}{view['logged_at']} {view['queue_id']}: from <{view['sender']}> "
             f"client={view['client']} size={view['size']} reply=\"{view['reply']}\""]
    if view["session"]:
        lines.append(f"{indent}  session: {session_text(view['session'])}")
    stages = " ".join(f"{stage}={verdict['verdict']}"
                      for stage, verdict in view["verdicts"].items())
    if stages:
        lines.append(f"{indent}  stages: {stages}")
    lines += [f"{indent}  to <{recipient['address']}>: {recipient['outcome']}"
              for recipient in view["recipients"]]
    lines += _deliveries_text(view["deliveries"], indent + "  ")
    lines += _caused_text(view["caused"], indent + "  ")
    return "\n".join(lines)


def _deliveries_text(attempts: list[dict[str, Any]], indent: str) -> list[str]:
    return [f"{indent}{attempt['at']} <{attempt['recipient']}> {attempt['status']} "
            f"{attempt['dsn']} via {attempt['relay']}: {attempt['reply']}"
            for attempt in attempts]


def _caused_text(caused: list[dict[str, Any]], indent: str) -> list[str]:
    lines: list[str] = []
    for message in caused:
        lines.append(f"{indent}caused {message['kind']} {message['queue_id']} "
                     f"at {message['at']}")
        lines += _deliveries_text(message["deliveries"], indent + "  ")
        lines += _caused_text(message["caused"], indent + "  ")
    return lines


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
