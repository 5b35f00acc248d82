"""`mailbasic db upgrade`."""

import click

from mailbasic import db
from mailbasic.cli.context import CliContext, pass_context


@click.group("db")
def group() -> None:
    """The account database schema."""


@group.command()
@pass_context
def upgrade(context: CliContext) -> None:
    """Apply every migration not yet applied (safe to run again, and concurrently)."""
    before, after = db.upgrade(context.settings)
    click.echo(f"database schema is up to date ({after})" if before == after else
               f"database schema upgraded from {before or 'empty'} to {after}")
