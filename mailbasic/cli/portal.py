"""`mailbasic portal`: the customer portal on portal.socket, behind nginx (foreground)."""

import signal
import sys

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("portal")
@pass_context
def command(context: CliContext) -> None:
    """Serve the customer portal on portal.socket for nginx (foreground)."""
    from mailbasic.portal import server

    configure_daemon_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.run(context.settings)
