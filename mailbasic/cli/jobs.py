"""`mailbasic jobs NAME [--dry-run]`: the maintenance jobs, one command each."""

from __future__ import annotations

import logging
from collections.abc import Callable

import click

from mailbasic.cli.context import CliContext, configure_daemon_logging, pass_context
from mailbasic.jobs.registry import JOBS, LOCKS_EACH_ITEM
from mailbasic.jobs.runner import JobRun, run_locked


@click.group("jobs")
def group() -> None:
    """Maintenance jobs: safe to repeat and to run twice at once; one log line per action."""


def _command(name: str, job: Callable[[JobRun], None], summary: str) -> click.Command:
    @click.option("--dry-run", is_flag=True, help="Log what would be done; change nothing.")
    @pass_context
    def command(context: CliContext, dry_run: bool) -> None:
        configure_daemon_logging()
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per action only
        run_locked(job, JobRun(name, context.settings, context.engine, dry_run),
                   whole_job=name not in LOCKS_EACH_ITEM)

    return click.command(name, help=summary)(command)


for _name, (_job, _summary) in JOBS.items():
    group.add_command(_command(_name, _job, _summary))
