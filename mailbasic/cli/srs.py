"""`mailbasic srs`: the SRS table daemon (Postfix socketmap) for bounces of forwards."""

import signal
import sys

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("srs")
@pass_context
def command(context: CliContext) -> None:
    """Answer Postfix's lookups of SRS addresses on forwarding.socket (foreground)."""
    from mailbasic import srsmap

    configure_daemon_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srsmap.run(context.settings)
