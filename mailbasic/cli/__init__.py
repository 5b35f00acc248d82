"""The admin CLI: `mailbasic NOUN VERB`. One module per noun; this is the boundary where
refusals become one line on stderr and a documented exit code (README, "Exit codes").

A command's module (and SQLAlchemy, the rules engine, pymilter, ... behind it) is imported
only when that command runs: `mailbasic --help` imports click and nothing of ours but
this package and mailbasic.errors (click's "Lazily loading subcommands")."""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mailbasic.errors import Conflict, DatabaseUnavailable, MailbasicError

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError  # loaded only by the commands that use it

# name -> (module in mailbasic.cli, attribute, the command's docstring). The docstrings
# are the commands' own (tests/unit/test_cli_lazy.py holds them equal), kept here so
# that `mailbasic --help` lists every command without importing it.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "abuse": ("abuse", "group",
              "Sending incidents: logins that sent spam or kept tripping the rate limit."),
    "address": ("address", "group",
                "Addresses of mailboxes (1 primary + up to 5 more each)."),
    "api-token": ("api_token", "group",
                  "Tokens of the admin REST API (/api/v1), each with its scopes."),
    "app-password": ("app_password", "group",
                     "App passwords of mailboxes: one per device, for chosen protocols, "
                     "shown once."),
    "audit": ("audit", "group", "The audit log of changes (portal, support, CLI, API)."),
    "auth": ("auth", "group",
             "Login blocks of the brute-force defence (IMAP, POP3, SMTP AUTH, portal)."),
    "auth-policy": ("auth_policy", "command",
                    "Answer Dovecot's authentication policy requests on auth_policy.socket "
                    "(foreground)."),
    "backup": ("backups", "group",
               "Backups of the account database and the mailboxes (written by `jobs "
               "backup`)."),
    "collect": ("collect", "group",
                "POP3 collection: mail from external POP3 accounts into a mailbox\n"
                "(`mailbasic jobs collect` fetches)."),
    "config": ("config", "group", "Generated Postfix and Dovecot configuration."),
    "customer": ("customer", "group", "Customers (each with up to two mailboxes)."),
    "db": ("database", "group", "The account database schema."),
    "delivery-log": ("delivery_log", "command",
                     "Follow Postfix's log file (delivery_log.file) and store each "
                     "recipient's delivery\nattempts, the messages they caused and every "
                     "SMTP session (foreground)."),
    "dkim": ("dkim", "group",
             "DKIM keys of hosted domains: generate, publish in DNS, activate, retire."),
    "domain": ("domain", "group", "Hosted domains."),
    "fax": ("fax", "group",
            "Fax to e-mail: numbers, formats, and the gateway's delivery hook."),
    "import": ("provision", "command",
               "Create customers with their mailboxes, addresses and quotas from a CSV "
               "or JSON lines file, one transaction per customer."),
    "jobs": ("jobs", "group",
             "Maintenance jobs: safe to repeat and to run twice at once; one log line per "
             "action."),
    "log": ("log", "group", "The SMTP transaction log and the delivery record."),
    "lookups": ("lookups", "command",
                "Answer Postfix's lookups of domains, mailboxes, aliases and sender logins "
                "on\nlookups.socket (foreground)."),
    "mailbox": ("mailbox", "group", "Mailboxes, named by their primary address."),
    "managesieve": ("managesieve", "command",
                    "Serve ManageSieve on managesieve.socket: the active script is the "
                    "mailbox's filters\n(foreground)."),
    "milter": ("milter", "command",
               "Serve Postfix's milter connections on the configured socket (runs in "
               "foreground)."),
    "portal": ("portal", "command",
               "Serve the customer portal on portal.socket for nginx (foreground)."),
    "policy": ("policy", "command",
               "Serve Postfix's policy requests on the configured socket (runs in "
               "foreground)."),
    "rules": ("rules", "group", "Per-mailbox rules applied when mail arrives."),
    "sms": ("sms", "group",
            "SMS notifications of arriving mail (`mailbasic jobs sms` sends them)."),
    "srs": ("srs", "command",
            "Answer Postfix's lookups of SRS addresses on forwarding.socket (foreground)."),
}


class LazyGroup(click.Group):
    """Imports a command's module when the command is asked for; lists and describes the
    commands from COMMANDS without importing any."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attribute, _ = COMMANDS[name]
            command = getattr(importlib.import_module(f"mailbasic.cli.{module}"), attribute)
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's own, but from the docstrings in COMMANDS for commands not loaded."""
        commands = [(name, self.commands.get(name)
                     or click.Command(name, help=COMMANDS[name][2]))
                    for name in self.list_commands(ctx)]
        commands = [(name, command) for name, command in commands if not command.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name, command in commands])


class BoundaryGroup(LazyGroup):
    """Turns every refusal into `mailbasic: error: ...` and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            refusal = refusal_of(error)
            if refusal is None:
                raise
            _refuse(refusal)


def refusal_of(error: BaseException) -> MailbasicError | None:
    """The refusal an exception stands for (a database error as one of ours), or None for
    anything else. SQLAlchemy is looked at only when a command has loaded it."""
    if isinstance(error, MailbasicError):
        return error
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.DBAPIError):
        return None
    if isinstance(error, exc.IntegrityError):
        return Conflict("the change conflicts with the account rules or with a "
                        f"concurrent change, nothing was written: {_reason(error)}")
    if isinstance(error, exc.OperationalError):
        return DatabaseUnavailable(f"database unavailable: {_reason(error)}")
    return MailbasicError(f"the database refused the command: {_reason(error)}")


def _reason(error: DBAPIError) -> str:
    text = str(error.orig or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _refuse(error: MailbasicError) -> NoReturn:
    click.echo(f"mailbasic: error: {error}", err=True)
    sys.exit(error.exit_code)


@click.group(cls=BoundaryGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              envvar="MAILBASIC_CONFIG", help="Config file (default: $MAILBASIC_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Administer the mailbasic service: customers, mailboxes, addresses, domains."""
    from mailbasic.cli.context import CliContext

    ctx.obj = CliContext(config_path)
    ctx.call_on_close(ctx.obj.close)
    _skip_the_last_collection()


_exit_registered = False


def _skip_the_last_collection() -> None:
    """Python's shutdown ends with a garbage collection over every object still there,
    which after SQLAlchemy and the account models is ~80 ms of a database command's
    half second. Frozen at exit, they are left to the end of the process instead: the
    command is done, and its database connections are closed already (CliContext.close)."""
    global _exit_registered
    if not _exit_registered:
        atexit.register(gc.freeze)
        _exit_registered = True
