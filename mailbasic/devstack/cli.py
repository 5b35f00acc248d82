"""`mailbasic-stack up|down|status`: the local stack behind `make run` and `make stop`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailbasic.devstack import Stack, StackError
from mailbasic.errors import MailbasicError

_DIRECTORY = click.option("--dir", "directory", type=click.Path(path_type=Path),
                          default=Path(".stack"), show_default=True,
                          help="Directory holding the stack's data, configs and logs.")


@click.group()
def main() -> None:
    """Run every server of mailbasic on loopback, for development and trying it out."""


@main.command()
@_DIRECTORY
def up(directory: Path) -> None:
    """Start (or restart) the stack and print its endpoints."""
    stack = Stack(directory)
    try:
        stack.down()  # a second `make run` restarts cleanly with the same data
        stack.up()
    except (StackError, MailbasicError) as error:
        sys.exit(f"mailbasic-stack: {error}")
    click.echo(stack.describe())


@main.command()
@_DIRECTORY
def down(directory: Path) -> None:
    """Stop every server of the stack; its data stays for the next `up`."""
    if not (directory / "stack.json").exists():
        click.echo(f"no stack in {directory}")
        return
    try:
        Stack(directory).down()
    except StackError as error:
        sys.exit(f"mailbasic-stack: {error}")
    click.echo("stopped")
