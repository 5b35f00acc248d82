"""`mailbasic collect add | remove | status`: a mailbox's external POP3 accounts."""

from __future__ import annotations

import click

from mailbasic.cli.context import (
    CliContext,
    emit,
    json_option,
    pass_context,
    password_stdin_option,
    read_password,
)
from mailbasic.collect import service
from mailbasic.schema import Security


@click.group("collect")
def group() -> None:
    """POP3 collection: mail from external POP3 accounts into a mailbox
    (`mailbasic jobs collect` fetches)."""


@group.command()
@click.argument("mailbox")
@click.option("--host", required=True, help="The external POP3 server.")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Default: 995 with --security tls, else 110.")
@click.option("--security", type=click.Choice([member.value for member in Security]),
              default="tls", show_default=True,
              help="tls: implicit TLS; starttls: STLS; plain: the password is readable "
                   "on the network.")
@click.option("--user", "username", required=True, help="The POP3 login.")
@password_stdin_option
@click.option("--leave-on-server/--delete-from-server", default=True, show_default=True)
@click.option("--interval", "interval_minutes", type=click.IntRange(5, 1440), default=15,
              show_default=True, help="Minutes between fetches.")
@pass_context
def add(context: CliContext, mailbox: str, host: str, port: int | None, security: str,
        username: str, password_stdin: bool, leave_on_server: bool,
        interval_minutes: int) -> None:
    """Collect the mail of an external POP3 account into MAILBOX."""
    password = read_password(password_stdin)
    with context.transaction() as session:
        account = service.add_account(
            session, context.settings, mailbox, host=host, port=port,
            security=Security(security), username=username, password=password,
            leave_on_server=leave_on_server, interval_minutes=interval_minutes)
        click.echo(f"collection account {account.id}: {username} at "
                   f"{account.host}:{account.port} into {mailbox}")


@group.command()
@click.argument("account_id", type=int)
@pass_context
def remove(context: CliContext, account_id: int) -> None:
    """Stop collecting account ACCOUNT_ID (see `collect status`)."""
    with context.transaction() as session:
        service.remove_account(session, account_id)
    click.echo(f"collection account {account_id} removed")


@group.command()
@click.option("--mailbox", help="Only this mailbox's accounts.")
@json_option
@pass_context
def status(context: CliContext, mailbox: str | None, as_json: bool) -> None:
    """Every collection account with its last run, its last success and its last error."""
    with context.transaction() as session:
        views = [service.account_view(session, account)
                 for account in service.list_accounts(session, mailbox)]
    emit(views, as_json, "\n".join(_text(view) for view in views) or "no collection accounts")


def _text(view: dict) -> str:
    state = "ok"
    if view["last_error"]:
        # A run that succeeded may still have left messages on the server (too large,
        # refused): said, but not as an error.
        succeeded = view["last_success_at"] and view["last_success_at"] == view["last_run_at"]
        state = f"{'ok, but' if succeeded else 'error'}: {view['last_error']}"
    return (f"{view['id']}  {view['mailbox']} <- {view['username']} at "
            f"{view['host']}:{view['port']} ({view['security']}, every "
            f"{view['interval_minutes']} min, "
            f"{'leave' if view['leave_on_server'] else 'delete'} on server)\n"
            f"    last run {view['last_run_at'] or 'never'}, last success "
            f"{view['last_success_at'] or 'never'}, fetched {view['last_fetched']}; {state}")
