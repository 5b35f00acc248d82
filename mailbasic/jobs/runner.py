"""What every job shares: its lock, its dry run, and its one log line per action."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from mailbasic.config import Settings
from mailbasic.doveadm import Doveadm

logger = logging.getLogger("mailbasic.jobs")


@dataclass
class JobRun:
    """What one run of a job may use, and what it did."""

    name: str
    settings: Settings
    engine: Engine
    dry_run: bool
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    actions: int = 0

    @property
    def doveadm(self) -> Doveadm:
        return Doveadm(self.settings.doveadm_command)

    def log(self, action: str, subject: str, reason: str) -> None:
        """One line per action; a dry run says what it would have done."""
        self.actions += 1
        prefix = "dry-run " if self.dry_run else ""
        logger.info("job=%s %saction=%s subject=%s reason=%s", self.name, prefix, action,
                    subject, reason)

    def note(self, action: str, subject: str, reason: str) -> None:
        """A line in the same shape for what the job did not do (not counted as an
        action), e.g. a part of it that has nothing to work on in this deployment."""
        logger.info("job=%s action=%s subject=%s reason=%s", self.name, action, subject,
                    reason)


def lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key per job name."""
    digest = hashlib.sha256(f"mailbasic.jobs.{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def run_locked(job: Callable[[JobRun], None], run: JobRun, *, whole_job: bool = True) -> bool:
    """Run `job` unless another run of it holds the lock (then False, nothing done).
    The lock is a session lock on a connection of its own: it goes when the run ends,
    even if the process dies. A job that locks each item itself (whole_job=False: the
    POP3 collection locks each account) runs beside other runs of it."""
    if not whole_job:
        job(run)
        _log_done(run)
        return True
    with run.engine.connect() as connection:
        key = lock_key(run.name)
        if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                  {"key": key}).scalar():
            logger.info("job=%s action=skip reason=another run holds the lock", run.name)
            return False
        try:
            job(run)
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    _log_done(run)
    return True


def _log_done(run: JobRun) -> None:
    logger.info("job=%s %saction=done reason=%d actions", run.name,
                "dry-run " if run.dry_run else "", run.actions)
