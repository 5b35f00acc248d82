"""`mailbasic fax set | remove | list | deliver`: fax to e-mail."""

from __future__ import annotations

from pathlib import Path

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.errors import MailbasicError
from mailbasic.fax import service
from mailbasic.mailer import Mailer
from mailbasic.schema.fax import FaxFormat
from mailbasic.sms import service as sms_service


@click.group("fax")
def group() -> None:
    """Fax to e-mail: numbers, formats, and the gateway's delivery hook."""


@group.command("set")
@click.argument("mailbox")
@click.argument("number")
@click.option("--format", "fax_format", type=click.Choice([f.value for f in FaxFormat]),
              default="pdf", show_default=True, help="What the customer receives.")
@pass_context
def set_number(context: CliContext, mailbox: str, number: str, fax_format: str) -> None:
    """Faxes to NUMBER go to MAILBOX."""
    with context.transaction() as session:
        entry = service.set_number(session, mailbox, number, FaxFormat(fax_format))
        click.echo(f"faxes to {entry.number} go to {mailbox} as {fax_format.upper()}")


@group.command()
@click.argument("number")
@pass_context
def remove(context: CliContext, number: str) -> None:
    """Faxes to NUMBER go nowhere any more."""
    with context.transaction() as session:
        service.remove_number(session, number)
    click.echo(f"fax number {number} removed")


@group.command("list")
@json_option
@pass_context
def list_numbers(context: CliContext, as_json: bool) -> None:
    """Every fax number with its mailbox and format."""
    with context.transaction() as session:
        rows = service.list_numbers(session)
    emit(rows, as_json, "\n".join(f"{row['number']}  {row['mailbox']}  {row['format']}"
                                  for row in rows) or "no fax numbers")


@group.command()
@click.option("--number", required=True, help="The number that was called.")
@click.option("--sender", help="The calling number, as the gateway knows it.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def deliver(context: CliContext, number: str, sender: str | None, file: Path) -> None:
    """Mail the fax in FILE to the mailbox behind NUMBER.

    The fax gateway's hook (e.g. HylaFAX's FaxDispatch). FILE is only read, never
    removed: on any error it is still there for the gateway to keep or retry."""
    with context.transaction() as session:
        recipient, message = service.deliver(session, context.settings, number, sender, file)
        # Queued in the transaction that ends after the MTA took the fax: no SMS for a
        # fax that was not sent.
        notified = sms_service.queue_fax_notice(session, recipient,
                                                service.caller_number(sender) or "unknown",
                                                message["Subject"])
        try:
            Mailer(context.settings).send(recipient, message.as_bytes())
        except (OSError, RuntimeError) as error:
            raise MailbasicError(f"the MTA did not take the fax: {error}") from None
    click.echo(f"fax to {number}: {message['Subject']}, sent to {recipient}"
               + (", SMS queued" if notified else ""))
