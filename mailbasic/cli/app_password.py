"""`mailbasic app-password create | list | revoke | require`: a mailbox's passwords for
one device each (mailbasic/app_passwords.py). Each change is audited by the CLI's
transaction; a revocation, and a change of the requirement, is then told to Dovecot."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context

if TYPE_CHECKING:
    from collections.abc import Iterable


@click.group("app-password")
def group() -> None:
    """App passwords of mailboxes: one per device, for chosen protocols, shown once.

    An app password logs in over IMAP, POP3 or SMTP AUTH only, for the protocols it was
    made for; `require` makes them the only way in for those protocols."""


@group.command()
@click.argument("mailbox")
@click.option("--name", required=True, help="What it is for, e.g. the device (unique).")
@click.option("--protocol", "protocols", multiple=True, metavar="imap|pop3|smtp",
              help="A protocol it may log in with (repeat; smtp is SMTP AUTH).")
@pass_context
def create(context: CliContext, mailbox: str, name: str, protocols: tuple[str, ...]) -> None:
    """Make an app password for MAILBOX and print it: it is shown this once."""
    from mailbasic import app_passwords
    from mailbasic.accounts import get_mailbox

    with context.transaction() as session:
        password = app_passwords.create(session, get_mailbox(session, mailbox), name,
                                        protocols)
    click.echo(password)
    click.echo(f"app password {name!r} of {mailbox} created; keep it now, it cannot be "
               "shown again", err=True)


@group.command("list")
@click.argument("mailbox")
@json_option
@pass_context
def list_(context: CliContext, mailbox: str, as_json: bool) -> None:
    """List MAILBOX's app passwords: protocols, creation, last use (within a minute)."""
    from mailbasic import app_passwords
    from mailbasic.accounts import get_mailbox

    with context.transaction() as session:
        views = [app_passwords.view(found) for found in
                 app_passwords.list_for(session, get_mailbox(session, mailbox))]
    emit(views, as_json, "\n".join(
        f"{view['name']}  {' '.join(view['protocols'])}  created {view['created_at']}  "
        f"last used {view['last_used_at'] or 'never'}" for view in views))


@group.command()
@click.argument("mailbox")
@click.argument("name")
@pass_context
def revoke(context: CliContext, mailbox: str, name: str) -> None:
    """Revoke MAILBOX's app password NAME: refused from the next login on."""
    from mailbasic import app_passwords
    from mailbasic.accounts import get_mailbox

    with context.transaction() as session:
        found = get_mailbox(session, mailbox)
        app_passwords.revoke(session, found, name)
        login = app_passwords.login_of(found)
    tell_dovecot(context, [login])
    click.echo(f"app password {name!r} of {mailbox} revoked")


@group.command()
@click.argument("customer")
@click.option("--off", is_flag=True, help="Stop requiring them.")
@pass_context
def require(context: CliContext, customer: str, off: bool) -> None:
    """Require app passwords for IMAP, POP3 and SMTP AUTH of all CUSTOMER's mailboxes
    (only with the customer's second factor on); the mailbox passwords then open webmail
    and the portal only."""
    from mailbasic import app_passwords
    from mailbasic.accounts import get_customer

    with context.transaction() as session:
        logins = app_passwords.set_app_passwords_only(
            session, get_customer(session, customer, lock=True), not off)
    tell_dovecot(context, logins)
    click.echo(f"{customer}: app passwords {'not ' if off else ''}required for IMAP, POP3 "
               "and SMTP AUTH")


def tell_dovecot(context: CliContext, logins: Iterable[str]) -> None:
    """The change is committed and stands; a Dovecot that could not be told is a warning
    (its cache may take an old login until auth_cache_ttl), not a failure."""
    from mailbasic import app_passwords

    for error in app_passwords.tell_dovecot(context.settings, logins):
        click.echo(f"mailbasic: warning: Dovecot was not told, a cached login may work "
                   f"until its auth cache expires: {error}", err=True)
