"""Writes one SMTP transaction log record per transaction the milter saw."""

from __future__ import annotations

from mailbasic import db, smtplog
from mailbasic.config import Settings
from mailbasic.milter.decisions import Outcome
from mailbasic.milter.message import Client
from mailbasic.smtplog import TransactionRecord


class TransactionLog:
    def __init__(self, settings: Settings) -> None:
        self.engine = db.make_engine(settings)

    def record(self, entry: TransactionRecord) -> None:
        with db.transaction(self.engine) as session:
            smtplog.record(session, entry)


def make_record(queue_id: str, client: Client, sender: str, size: int | None,
                recipients: list[tuple[str, str]], outcomes: list[Outcome],
                reply: str) -> TransactionRecord:
    return TransactionRecord(
        queue_id=queue_id, client_address=client.address, client_name=client.name,
        helo=client.helo, tls=client.tls, auth_user=client.auth_user,
        sender=sender.strip("<>"), size=size, reply=reply,
        recipients=[(address.strip("<>"), outcome) for address, outcome in recipients],
        verdicts={outcome.stage: {"verdict": outcome.verdict, "reason": outcome.reason}
                  for outcome in outcomes})
