"""`mailbasic policy`: the Postfix access policy daemon (check_policy_service)."""

import signal
import sys

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context


@click.command("policy")
@pass_context
def command(context: CliContext) -> None:
    """Serve Postfix's policy requests on the configured socket (runs in foreground)."""
    from mailbasic.policy import server

    configure_daemon_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Many short requests on many threads: hand the GIL over sooner than every 5 ms, so
    # one busy thread does not hold up the answers of the others.
    sys.setswitchinterval(0.0005)
    server.run(context.settings)
