"""What every command shares: the settings (loaded once, on first use) and the engine."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import AbstractContextManager
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
        from mailbasic import db

        return db.transaction(self.engine)

    def close(self) -> None:
        """Close the engine's connections, if the command made one."""
        if "engine" in self.__dict__:
            self.__dict__.pop("engine").dispose()


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
