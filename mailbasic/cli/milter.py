"""`mailbasic milter`: the content filter daemon Postfix calls (smtpd_milters)."""

import logging

import click

from mailbasic.cli.context import CliContext, pass_context


@click.command("milter")
@pass_context
def command(context: CliContext) -> None:
    """Serve Postfix's milter connections on the configured socket (runs in foreground)."""
    from mailbasic.milter import app  # pymilter's C module is needed only here

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s[%(process)d]: %(message)s")
    app.run(context.settings)
