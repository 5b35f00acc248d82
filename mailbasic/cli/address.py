"""`mailbasic address add | remove | move | list`."""

import click

from mailbasic import accounts
from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.cli.views import address_view


@click.group("address")
def group() -> None:
    """Addresses of mailboxes (1 primary + up to 5 more each)."""


@group.command()
@click.argument("address")
@click.option("--mailbox", required=True, help="The mailbox that receives ADDRESS.")
@pass_context
def add(context: CliContext, address: str, mailbox: str) -> None:
    """Add ADDRESS to MAILBOX."""
    with context.transaction() as session:
        created = accounts.add_address(session, context.settings, address, mailbox)
        message = f"address {created.email} added to {mailbox}"
    click.echo(message)


@group.command()
@click.argument("address")
@pass_context
def remove(context: CliContext, address: str) -> None:
    """Remove ADDRESS (a primary address cannot be removed)."""
    with context.transaction() as session:
        accounts.remove_address(session, address)
    click.echo(f"address {address} removed")


@group.command()
@click.argument("address")
@click.option("--mailbox", required=True, help="The customer's other mailbox.")
@pass_context
def move(context: CliContext, address: str, mailbox: str) -> None:
    """Move ADDRESS to another mailbox of the same customer."""
    with context.transaction() as session:
        moved = accounts.move_address(session, address, mailbox)
        message = f"address {moved.email} moved to {mailbox}"
    click.echo(message)


@group.command("list")
@click.option("--mailbox", help="Only the addresses of this mailbox.")
@json_option
@pass_context
def list_(context: CliContext, mailbox: str | None, as_json: bool) -> None:
    """List addresses and the mailbox each delivers to."""
    with context.transaction() as session:
        views = [address_view(address) for address in accounts.list_addresses(session, mailbox)]
    emit(views, as_json, "\n".join(
        f"{view['address']}  -> {view['mailbox']}" + ("  (primary)" if view["primary"] else "")
        for view in views))
