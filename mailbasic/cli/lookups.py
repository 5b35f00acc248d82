"""`mailbasic lookups`: Postfix's account lookups (socketmap) with database deadlines."""

import signal
import sys

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("lookups")
@pass_context
def command(context: CliContext) -> None:
    """Answer Postfix's lookups of domains, mailboxes, aliases and sender logins on
    lookups.socket (foreground)."""
    from mailbasic import lookups

    configure_daemon_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    lookups.run(context.settings)
