"""`mailbasic auth-policy`: Dovecot's authentication policy server (auth_policy_server_url)."""

import signal
import sys

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("auth-policy")
@pass_context
def command(context: CliContext) -> None:
    """Answer Dovecot's authentication policy requests on auth_policy.socket (foreground)."""
    from mailbasic.auth_policy import server

    configure_daemon_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.run(context.settings)
