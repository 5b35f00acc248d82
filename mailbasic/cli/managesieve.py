"""`mailbasic managesieve`: the ManageSieve server (RFC 5804) onto the mailboxes' rules."""

import signal
import sys

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("managesieve")
@pass_context
def command(context: CliContext) -> None:
    """Serve ManageSieve on managesieve.socket: the active script is the mailbox's filters
    (foreground)."""
    from mailbasic.managesieve import server

    configure_daemon_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.run(context.settings)
