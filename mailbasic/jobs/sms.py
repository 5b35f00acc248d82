"""SMS: every due notification in the outbox goes to the provider's HTTP gateway.

A mailbox that already had sms.per_hour SMS sent in the last hour gets no more: the
notification is suppressed, not delayed (an SMS an hour late tells nobody anything).
A temporary failure (timeout, no connection, 5xx, 429) is retried after 1, 2, 4 ...
minutes, at most an hour apart, until sms.max_attempts; a refusal fails at once.

The attempt is counted before the gateway is called and the result recorded after: a
run that dies in between sends that SMS again later (twice rather than never)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbasic import db
from mailbasic.jobs.runner import JobRun
from mailbasic.schema import Mailbox, OutboxState, SmsOutbox
from mailbasic.sms import gateway
from mailbasic.sms.gateway import Delivery, GatewayConfig, Outcome

BATCH = 500
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    wait: timedelta = timedelta(minutes=1) * 2 ** (attempts - 1)
    return min(wait, MAX_BACKOFF)


def run(job: JobRun) -> None:
    due = (select(SmsOutbox.id, Mailbox).join(Mailbox, Mailbox.id == SmsOutbox.mailbox_id)
           .where(SmsOutbox.state == OutboxState.PENDING,
                  SmsOutbox.next_attempt_at <= job.now)
           .order_by(SmsOutbox.id).limit(BATCH))
    with db.transaction(job.engine) as session:
        rows = [(outbox_id, mailbox.name) for outbox_id, mailbox in session.execute(due)]
    if not rows:
        return
    config = GatewayConfig.from_settings(job.settings)  # no gateway: a clear error
    for outbox_id, mailbox in rows:
        deliver(job, config, outbox_id, f"{mailbox} sms#{outbox_id}")


def deliver(job: JobRun, config: GatewayConfig, outbox_id: int, label: str) -> None:
    with db.transaction(job.engine) as session:
        # Gone since it was selected (its mailbox deleted): the run fails here, as it did
        # before the type check (then with an AttributeError).
        entry = session.get_one(SmsOutbox, outbox_id, with_for_update=True)
        if entry.state is not OutboxState.PENDING:
            return  # settled by a run that died before recording the others
        sent = _sent_last_hour(session, entry.mailbox_id, job.now)
        if sent >= job.settings.sms_per_hour:
            job.log("suppress", label, f"{sent} SMS sent in the last hour, the limit is "
                                       f"{job.settings.sms_per_hour}")
            if not job.dry_run:
                entry.state = OutboxState.SUPPRESSED
            return
        if job.dry_run:
            job.log("send", label, entry.reason)
            return
        entry.attempts += 1
        phone, text, attempts = entry.phone, entry.text, entry.attempts
    delivery = gateway.send(config, phone, text)
    with db.transaction(job.engine) as session:
        entry = session.get_one(SmsOutbox, outbox_id, with_for_update=True)
        _record(job, entry, delivery, attempts, label)


def _record(job: JobRun, entry: SmsOutbox, delivery: Delivery, attempts: int,
            label: str) -> None:
    entry.last_error = None if delivery.outcome is Outcome.SENT else delivery.detail
    if delivery.outcome is Outcome.SENT:
        entry.state, entry.sent_at = OutboxState.SENT, job.now
        job.log("sent", label, f"{entry.reason}: {delivery.detail}")
    elif delivery.outcome is Outcome.REJECTED:
        entry.state = OutboxState.FAILED
        job.log("failed", label, f"the gateway refused it: {delivery.detail}")
    elif attempts >= job.settings.sms_max_attempts:
        entry.state = OutboxState.FAILED
        job.log("failed", label, f"{delivery.detail}, attempt {attempts} of "
                                 f"{job.settings.sms_max_attempts}")
    else:
        wait = backoff(attempts)
        entry.next_attempt_at = job.now + wait
        job.log("retry", label, f"{delivery.detail}, attempt {attempts}, next in "
                                f"{int(wait.total_seconds() // 60)} min")


def _sent_last_hour(session: Session, mailbox_id: int, now: datetime) -> int:
    return session.execute(select(func.count()).select_from(SmsOutbox).where(
        SmsOutbox.mailbox_id == mailbox_id, SmsOutbox.state == OutboxState.SENT,
        SmsOutbox.sent_at > now - timedelta(hours=1))).scalar_one()

