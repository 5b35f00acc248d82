"""Spam purge: messages in a mailbox's "Spam" folder that arrived more than
spam_max_age_days ago are deleted (Dovecot's BEFORE: the arrival date)."""

from __future__ import annotations

from mailbasic.jobs.runner import JobRun


def run(job: JobRun) -> None:
    days = job.settings.spam_max_age_days
    query = ("mailbox", "Spam", "before", f"{days}d")
    for user in job.doveadm.users():
        messages = job.doveadm.count(user, *query)
        if not messages:
            continue
        job.log("expunge-spam", user, f"{messages} messages in Spam older than {days} days")
        if not job.dry_run:
            job.doveadm.expunge(user, *query)
