"""What every command shares: the settings (loaded once, on first use) and the engine."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

from mailbasic.errors import InvalidInput

if TYPE_CHECKING:  # SQLAlchemy and the settings are imported by the commands that use them
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from mailbasic.config import Settings


class CliContext:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    @cached_property
    def settings(self) -> Settings:
        from mailbasic.config import load_settings

        return load_settings(self.config_path)

    @cached_property
    def engine(self) -> Engine:
        from mailbasic import db

        return db.make_engine(self.settings)

    def transaction(self) -> AbstractContextManager[Session]:
        return _audited_transaction(self.engine)

    def close(self) -> None:
        """Close the engine's connections, if the command made one."""
        if "engine" in self.__dict__:
            self.__dict__.pop("engine").dispose()


@contextmanager
def _audited_transaction(engine: Engine) -> Iterator[Session]:
    """The command's one transaction; if it changed anything that the service layer did
    not audit itself, the audit log gets one record of the command and its parameters
    (never a password: passwords come from stdin or a prompt, not as parameters)."""
    from sqlalchemy import event

    from mailbasic import audit, db

    with db.transaction(engine) as session:
        event.listen(session, "after_flush",
                     lambda flushed, _: flushed.info.__setitem__("changed", True))
        yield session
        session.flush()
        if session.info.get("changed") and not session.info.get("audited"):
            user = os.environ.get("SUDO_USER") or getpass.getuser()
            command = click.get_current_context()
            audit.record(session, audit.Actor(f"admin (CLI, {user})"), None,
                         command.command_path.partition(" ")[2],
                         parameters=_plain(command.params))


def _plain(parameters: dict[str, Any]) -> dict[str, Any]:
    """JSON for the audit record: files and the like by their names."""
    return {name: value if isinstance(value, (str, int, float, bool, type(None), list, tuple))
            else str(getattr(value, "name", value)) for name, value in parameters.items()}


pass_context = click.make_pass_decorator(CliContext)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")

password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input.")


def configure_daemon_logging() -> None:
    """One line per decision, to stderr; without the per-record costs we do not use
    (caller lookup, thread names), as the Logging HOWTO's "Optimization" suggests."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s[%(process)d]: %(message)s")


def read_password(from_stdin: bool) -> str:
    if not from_stdin:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput("no password on standard input")
    return line.rstrip("\r\n")


def emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)
