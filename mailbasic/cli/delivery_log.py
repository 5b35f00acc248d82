"""`mailbasic delivery-log`: the delivery record from Postfix's own log (foreground)."""

import signal
import sys

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("delivery-log")
@pass_context
def command(context: CliContext) -> None:
    """Follow Postfix's log file (delivery_log.file) and store each recipient's delivery
    attempts, the messages they caused and every SMTP session (foreground)."""
    from mailbasic.delivery import reader

    configure_daemon_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    reader.run(context.settings)
