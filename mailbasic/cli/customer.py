"""`mailbasic customer add | list | show | delete | passwd | invite | support-link`."""

import click

from mailbasic import accounts
from mailbasic.cli.context import (
    CliContext,
    emit,
    json_option,
    pass_context,
    password_stdin_option,
    read_password,
)
from mailbasic.cli.views import customer_text, customer_view


@click.group("customer")
def group() -> None:
    """Customers (each with up to two mailboxes)."""


@group.command()
@click.argument("name")
@click.option("--domain", required=True, help="Domain of the first mailbox's address.")
@password_stdin_option
@pass_context
def add(context: CliContext, name: str, domain: str, password_stdin: bool) -> None:
    """Create customer NAME and its first mailbox NAME@DOMAIN."""
    password = read_password(password_stdin)
    with context.transaction() as session:
        customer = accounts.add_customer(session, context.settings, name, domain, password)
        message = (f"customer {customer.name} added with mailbox "
                   f"{customer.mailboxes[0].name}")
    click.echo(message)


@group.command("list")
@json_option
@pass_context
def list_(context: CliContext, as_json: bool) -> None:
    """List customers and their mailboxes."""
    with context.transaction() as session:
        views = [customer_view(customer) for customer in accounts.list_customers(session)]
    emit(views, as_json, "\n".join(
        f"{view['name']}  " + " ".join(mailbox["name"] for mailbox in view["mailboxes"])
        for view in views))


@group.command()
@click.argument("name")
@json_option
@pass_context
def show(context: CliContext, name: str, as_json: bool) -> None:
    """Show customer NAME with its mailboxes and addresses."""
    with context.transaction() as session:
        view = customer_view(accounts.get_customer(session, name))
    emit(view, as_json, customer_text(view))


@group.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def delete(context: CliContext, name: str, yes: bool) -> None:
    """Delete customer NAME with its mailboxes and addresses. Their mail on disk goes
    with the next `mailbasic jobs orphaned-mail`."""
    if not yes:
        click.confirm(f"Delete customer {name} and all its mailboxes and addresses?",
                      abort=True)
    with context.transaction() as session:
        accounts.delete_customer(session, name)
    click.echo(f"customer {name} deleted")


@group.command()
@click.argument("name")
@password_stdin_option
@pass_context
def passwd(context: CliContext, name: str, password_stdin: bool) -> None:
    """Set customer NAME's portal password (its other portal sessions end)."""
    from mailbasic import audit
    from mailbasic.portal import credentials

    password = read_password(password_stdin)
    with context.transaction() as session:
        credentials.set_password(session, context.settings, audit.ADMIN, name, password)
    click.echo(f"customer {name}: portal password set")


@group.command()
@click.argument("name")
@click.option("--hours", type=click.IntRange(1, 24 * 30),
              help="Valid this long (default: portal.invite_hours).")
@pass_context
def invite(context: CliContext, name: str, hours: int | None) -> None:
    """Print a one-time link with which customer NAME sets the portal password."""
    from mailbasic import audit
    from mailbasic.portal import credentials

    with context.transaction() as session:
        issued = credentials.issue_link(session, context.settings, audit.ADMIN, name,
                                        "invite", hours)
    click.echo(f"{issued.url}\n(valid until {issued.expires_at:%Y-%m-%d %H:%M %Z}, once)")


@group.command("support-link")
@click.argument("name")
@click.option("--staff", required=True, help="Who opens it (shown to the customer).")
@click.option("--hours", type=click.IntRange(1, 72), default=1, show_default=True)
@pass_context
def support_link(context: CliContext, name: str, staff: str, hours: int) -> None:
    """Print a link that opens customer NAME's portal read-only (audited, shown to the
    customer)."""
    from mailbasic import audit
    from mailbasic.portal import credentials

    with context.transaction() as session:
        issued = credentials.issue_link(session, context.settings,
                                        audit.Actor(f"support {staff}"), name, "support",
                                        hours)
    click.echo(f"{issued.url}\n(valid until {issued.expires_at:%Y-%m-%d %H:%M %Z})")
