"""`mailbasic milter`: the content filter daemon Postfix calls (smtpd_milters)."""


import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("milter")
@pass_context
def command(context: CliContext) -> None:
    """Serve Postfix's milter connections on the configured socket (runs in foreground)."""
    from mailbasic.milter import app  # pymilter's C module is needed only here

    configure_daemon_logging()
    status = app.run(context.settings)
    if status:
        raise SystemExit(status)
