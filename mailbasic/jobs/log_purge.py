"""Retention: SMTP transactions older than log.retention_days, and the policy daemon's
rate counters of hours long past (it only reads the current hour's)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select

from mailbasic import db, smtplog
from mailbasic.jobs.runner import JobRun
from mailbasic.schema import RateCounter, SmtpTransaction

RATE_COUNTER_KEEP = timedelta(days=1)


def run(job: JobRun) -> None:
    days = job.settings.log_retention_days
    logged_before = job.now - timedelta(days=days)
    counted_before = job.now - RATE_COUNTER_KEEP
    with db.transaction(job.engine) as session:
        transactions = session.scalar(select(func.count()).select_from(SmtpTransaction)
                                      .where(SmtpTransaction.logged_at < logged_before))
        counters = session.scalar(select(func.count()).select_from(RateCounter)
                                  .where(RateCounter.hour < counted_before))
        if transactions:
            job.log("purge-smtp-log", "smtp_transactions",
                    f"{transactions} transactions older than {days} days")
        if counters:
            job.log("purge-rate-counters", "rate_counters",
                    f"{counters} counters of hours before {counted_before:%Y-%m-%d %H:00}")
        if job.dry_run:
            return
        smtplog.purge(session, logged_before)
        session.execute(delete(RateCounter).where(RateCounter.hour < counted_before))
