"""`mailbasic domain add | remove | list | catch-all`."""

import click

from mailbasic import accounts
from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.cli.views import domain_view
from mailbasic.errors import InvalidInput


@click.group("domain")
def group() -> None:
    """Hosted domains."""


@group.command()
@click.argument("name")
@pass_context
def add(context: CliContext, name: str) -> None:
    """Host the domain NAME."""
    with context.transaction() as session:
        domain = accounts.add_domain(session, context.settings, name)
        message = f"domain {domain.name} added"
    click.echo(message)


@group.command()
@click.argument("name")
@click.option("--with-addresses", is_flag=True,
              help="Also remove the domain's addresses (not primary addresses).")
@pass_context
def remove(context: CliContext, name: str, with_addresses: bool) -> None:
    """Stop hosting the domain NAME (refused while it has addresses, unless
    --with-addresses; always while it holds a mailbox's primary address)."""
    with context.transaction() as session:
        removed = accounts.remove_domain(session, name, with_addresses=with_addresses)
    click.echo(f"domain {name.lower()} removed"
               + (f" with {removed} address{'' if removed == 1 else 'es'}" if removed else ""))


@group.command("list")
@json_option
@pass_context
def list_(context: CliContext, as_json: bool) -> None:
    """List hosted domains and their catch-all mailboxes."""
    with context.transaction() as session:
        views = [domain_view(domain) for domain in accounts.list_domains(session)]
    emit(views, as_json, "\n".join(
        view["name"] + (f"  catch-all -> {view['catch_all']}" if view["catch_all"] else "")
        for view in views))


@group.command("catch-all")
@click.argument("name")
@click.argument("mailbox", required=False)
@click.option("--off", is_flag=True, help="Refuse unknown addresses again.")
@pass_context
def catch_all(context: CliContext, name: str, mailbox: str | None, off: bool) -> None:
    """Deliver mail for unknown addresses of domain NAME into MAILBOX (or --off)."""
    if off == bool(mailbox):
        raise InvalidInput("give either a MAILBOX or --off")
    with context.transaction() as session:
        domain = accounts.set_catch_all(session, name, mailbox)
        message = f"catch-all of {domain.name}: {mailbox or 'off'}"
    click.echo(message)
