"""`mailbasic audit search`: every change to customers' settings, by whom and from where."""

from __future__ import annotations

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context


@click.group("audit")
def group() -> None:
    """The audit log of changes (portal, support, CLI, API)."""


@group.command()
@click.option("--customer", help="Only this customer's.")
@click.option("--since", help="From this time on (ISO 8601, or ago: 30m, 1h, 7d).")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@json_option
@pass_context
def search(context: CliContext, customer: str | None, since: str | None, limit: int,
           as_json: bool) -> None:
    """Find audit events, newest first."""
    from mailbasic import audit
    from mailbasic.accounts import get_customer
    from mailbasic.cli.log import parse_time

    with context.transaction() as session:
        owner = get_customer(session, customer) if customer else None
        views = [audit.view(event) for event in audit.search(
            session, customer=owner, since=parse_time(since), limit=limit)]
    emit(views, as_json, "\n".join(
        f"{view['at']} {view['actor']} [{view['client_address'] or '-'}] {view['action']}"
        for view in views))
