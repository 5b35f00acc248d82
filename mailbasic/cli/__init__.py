"""The admin CLI: `mailbasic NOUN VERB`. One module per noun; this is the boundary where
refusals become one line on stderr and a documented exit code (README, "Exit codes")."""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from mailbasic.cli import (address, backups, collect, config, customer, database, domain,
                           fax, jobs, log, mailbox, milter, policy, rules, sms, srs)
from mailbasic.cli.context import CliContext
from mailbasic.errors import Conflict, DatabaseUnavailable, MailbasicError


class BoundaryGroup(click.Group):
    """Turns every refusal into `mailbasic: error: ...` and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MailbasicError as error:
            _refuse(error)
        except IntegrityError as error:
            _refuse(Conflict("the change conflicts with the account rules or with a "
                             f"concurrent change, nothing was written: {_reason(error)}"))
        except OperationalError as error:
            _refuse(DatabaseUnavailable(f"database unavailable: {_reason(error)}"))
        except DBAPIError as error:
            _refuse(MailbasicError(f"the database refused the command: {_reason(error)}"))


def _reason(error: DBAPIError) -> str:
    text = str(error.orig or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _refuse(error: MailbasicError) -> None:
    click.echo(f"mailbasic: error: {error}", err=True)
    sys.exit(error.exit_code)


@click.group(cls=BoundaryGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              envvar="MAILBASIC_CONFIG", help="Config file (default: $MAILBASIC_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Administer the mailbasic service: customers, mailboxes, addresses, domains."""
    ctx.obj = CliContext(config_path)


for group in (database.group, domain.group, customer.group, mailbox.group, address.group,
              rules.group, config.group, log.group, jobs.group, backups.group,
              collect.group, fax.group, sms.group, milter.command, policy.command,
              srs.command):
    main.add_command(group)
