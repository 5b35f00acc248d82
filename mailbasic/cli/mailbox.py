"""`mailbasic mailbox add | show | passwd | quota | deactivate | reactivate | suspend |
resume | access`."""

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
from mailbasic.cli.views import mailbox_text, mailbox_view
from mailbasic.config import parse_size
from mailbasic.errors import InvalidInput


@click.group("mailbox")
def group() -> None:
    """Mailboxes, named by their primary address."""


@group.command()
@click.argument("customer")
@click.argument("address")
@password_stdin_option
@pass_context
def add(context: CliContext, customer: str, address: str, password_stdin: bool) -> None:
    """Give CUSTOMER a further mailbox with primary ADDRESS (customer service only)."""
    password = read_password(password_stdin)
    with context.transaction() as session:
        mailbox = accounts.add_mailbox(session, context.settings, customer, address, password)
        message = f"mailbox {mailbox.name} added to customer {customer}"
    click.echo(message)


@group.command()
@click.argument("mailbox")
@json_option
@pass_context
def show(context: CliContext, mailbox: str, as_json: bool) -> None:
    """Show MAILBOX: quota, receiving state, logins, addresses."""
    with context.transaction() as session:
        view = mailbox_view(accounts.get_mailbox(session, mailbox))
    emit(view, as_json, mailbox_text(view))


@group.command()
@click.argument("mailbox")
@password_stdin_option
@pass_context
def passwd(context: CliContext, mailbox: str, password_stdin: bool) -> None:
    """Set the password of MAILBOX."""
    password = read_password(password_stdin)
    with context.transaction() as session:
        accounts.set_password(session, context.settings, mailbox, password)
    click.echo(f"password of {mailbox} changed")


@group.command()
@click.argument("mailbox")
@click.argument("size")
@pass_context
def quota(context: CliContext, mailbox: str, size: str) -> None:
    """Set the storage quota of MAILBOX (e.g. 1G, 500M)."""
    try:
        quota_bytes = parse_size(size)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    with context.transaction() as session:
        accounts.set_quota(session, mailbox, quota_bytes)
    click.echo(f"quota of {mailbox}: {quota_bytes} bytes")


@group.command()
@click.argument("mailbox")
@click.option("--reason", help="Why; shown to customer service.")
@pass_context
def deactivate(context: CliContext, mailbox: str, reason: str | None) -> None:
    """Stop MAILBOX from receiving mail (senders get a refusal)."""
    with context.transaction() as session:
        accounts.deactivate(session, mailbox, reason)
    click.echo(f"mailbox {mailbox} deactivated for receiving")


@group.command()
@click.argument("mailbox")
@pass_context
def reactivate(context: CliContext, mailbox: str) -> None:
    """Let MAILBOX receive mail again."""
    with context.transaction() as session:
        accounts.reactivate(session, mailbox)
    click.echo(f"mailbox {mailbox} receives mail again")


@group.command()
@click.argument("mailbox")
@click.option("--reason", help="Why; shown to the customer when a login is refused.")
@pass_context
def suspend(context: CliContext, mailbox: str, reason: str | None) -> None:
    """Block every login of MAILBOX (IMAP, POP3, SMTP AUTH, webmail, the customer's
    portal); mail still arrives. Open sessions are closed."""
    with context.transaction() as session:
        accounts.suspend(session, context.settings, mailbox, reason)
    click.echo(f"mailbox {mailbox} suspended: no login works, mail still arrives")


@group.command()
@click.argument("mailbox")
@pass_context
def resume(context: CliContext, mailbox: str) -> None:
    """Let MAILBOX log in again after `mailbox suspend`."""
    with context.transaction() as session:
        accounts.resume(session, context.settings, mailbox)
    click.echo(f"mailbox {mailbox} may log in again")


_SWITCH = click.Choice(["on", "off"])


@group.command()
@click.argument("mailbox")
@click.option("--imap", type=_SWITCH, help="IMAP logins.")
@click.option("--pop3", type=_SWITCH, help="POP3 logins.")
@click.option("--smtp", type=_SWITCH, help="SMTP AUTH (sending through submission).")
@click.option("--webmail", type=_SWITCH, help="Webmail logins.")
@json_option
@pass_context
def access(context: CliContext, mailbox: str, as_json: bool, **switches: str | None) -> None:
    """Show, or allow (on) and deny (off), each protocol for MAILBOX's logins."""
    allowed = {protocol: value == "on" for protocol, value in switches.items()
               if value is not None}
    with context.transaction() as session:
        found = (accounts.set_access(session, context.settings, mailbox, allowed)
                 if allowed else accounts.get_mailbox(session, mailbox))
        state = accounts.access_of(found)
    emit(state, as_json, "\n".join(f"{protocol:8} {'on' if on else 'off'}"
                                    for protocol, on in state.items()))

