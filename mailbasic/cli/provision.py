"""`mailbasic import FILE`: bulk provisioning, one transaction per customer (the file
formats: mailbasic.provisioning, README "Admin CLI")."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, TextIO

import click

from mailbasic import provisioning
from mailbasic.cli.context import CliContext, pass_context
from mailbasic.errors import DatabaseUnavailable, InvalidInput, MailbasicError

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from mailbasic.config import Settings

    Items = list[provisioning.Record | provisioning.Unreadable]


@click.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--format", "kind", type=click.Choice(provisioning.FORMATS),
              help="jsonl or csv (default: by FILE's extension: .jsonl, .ndjson, .json "
                   "or .csv; needed for standard input).")
@click.option("--dry-run", is_flag=True,
              help="Check every record (made and rolled back); write nothing.")
@click.option("--jobs", type=click.IntRange(1, 256),
              help="Processes that hash the passwords (default: one per CPU; 1: none).")
@pass_context
def command(context: CliContext, file: TextIO, kind: str | None, dry_run: bool,
            jobs: int | None) -> None:
    """Create customers with their mailboxes, addresses and quotas from a CSV or JSON
    lines file, one transaction per customer.

    FILE ('-': standard input) holds one customer per JSON line, or per group of CSV
    rows (one row per mailbox). A refused record is one line on stderr naming its line
    in FILE, and leaves nothing of itself written; the next record follows. At the end:
    how many were created and refused; the exit code is 0 when none was refused, else
    the exit code of the first refusal."""
    kind = provisioning.format_of(getattr(file, "name", "-"), kind)
    if kind is None:
        raise click.UsageError("cannot tell FILE's format from its name: give --format "
                               "jsonl or --format csv")
    try:
        items = list(provisioning.read(file, kind))
    except UnicodeDecodeError as error:
        raise InvalidInput(f"FILE is not UTF-8 text: {error}") from None
    settings = context.settings
    records = [item for item in items if isinstance(item, provisioning.Record)]
    passwords = sum(len(record.mailboxes) for record in records)
    workers = min(jobs or os.cpu_count() or 1, passwords)
    # bcrypt at the configured cost in worker processes, ahead of the transactions. A dry
    # run stores no hash, so it needs none at that cost.
    with _pool(workers) if workers > 1 and not dry_run else nullcontext() as pool:
        if pool is not None:
            provisioning.prehash(records, pool, settings.bcrypt_cost)
        outcome = _Outcome(dry_run)
        try:
            if dry_run:
                _check_all(context, settings, items, outcome)
            else:
                _create_all(context, settings, items, outcome)
        except DatabaseUnavailable:
            outcome.summary(stopped=True)
            raise
    outcome.summary()
    if outcome.exit_code:
        click.get_current_context().exit(outcome.exit_code)


@contextmanager
def _pool(workers: int) -> Iterator[Executor]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: the workers are not forks of a process that holds database
    # connections (or threads).
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
    try:
        yield pool
    finally:  # a stopped import leaves no hashing behind
        pool.shutdown(wait=True, cancel_futures=True)


class _Outcome:
    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.created = self.refused = 0
        self.exit_code = 0

    def done(self, line: int, text: str) -> None:
        self.created += 1
        click.echo(f"line {line}: {text}" + (" (dry run, not written)" if self.dry_run
                                             else ""))

    def refuse(self, line: int, error: MailbasicError) -> None:
        self.refused += 1
        self.exit_code = self.exit_code or error.exit_code
        click.echo(f"mailbasic: error: line {line}: {error}", err=True)

    def summary(self, stopped: bool = False) -> None:
        verb = "would be created" if self.dry_run else "created"
        click.echo(f"{self.created} customers {verb}, {self.refused} refused"
                   + ("; stopped: the database is unavailable" if stopped else "")
                   + ("; dry run: nothing was written" if self.dry_run else ""))


def _refusal(error: Exception) -> MailbasicError:
    from mailbasic.cli import refusal_of

    refusal = refusal_of(error)
    if refusal is None:
        raise error
    return refusal


def _create_all(context: CliContext, settings: Settings, items: Items,
                outcome: _Outcome) -> None:
    from mailbasic import db

    for item in items:
        if isinstance(item, provisioning.Unreadable):
            outcome.refuse(item.line, item.error)
            continue
        progress = provisioning.Progress(item.line)
        try:
            with db.transaction(context.engine) as session:
                provisioning.create(session, settings, item, progress)
        except Exception as error:  # refusal_of re-raises what is no refusal
            refusal = _refusal(error)
            if isinstance(refusal, DatabaseUnavailable):
                outcome.refuse(progress.line, refusal)
                raise refusal from None
            outcome.refuse(progress.line, refusal)
            continue
        outcome.done(item.line, provisioning.describe(item))


def _check_all(context: CliContext, settings: Settings, items: Items,
               outcome: _Outcome) -> None:
    """Every record in one transaction that is rolled back at the end, each in a
    savepoint of its own: a later record sees the earlier ones, as in the real run."""
    from sqlalchemy.orm import Session

    with Session(context.engine) as session:
        session.begin()
        try:
            for item in items:
                if isinstance(item, provisioning.Unreadable):
                    outcome.refuse(item.line, item.error)
                    continue
                progress = provisioning.Progress(item.line)
                try:
                    with session.begin_nested():
                        provisioning.create(session, settings, item, progress,
                                            checking=True)
                        provisioning.check_deferred(session)
                except Exception as error:  # as in _create_all
                    refusal = _refusal(error)
                    outcome.refuse(progress.line, refusal)
                    if isinstance(refusal, DatabaseUnavailable):
                        raise refusal from None
                    continue
                outcome.done(item.line, provisioning.describe(item))
        finally:
            session.rollback()
