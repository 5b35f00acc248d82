"""Quota alone: a recipient whose mailbox this message could fill past its quota gets a
transaction of its own, so that a full mailbox is refused inside the SMTP transaction
and never bounced afterwards to a sender who may be forged.

At end of data Postfix names the recipient to the policy only when there is exactly one,
and one message cannot be refused for one recipient and accepted for another. So at RCPT,
in one transaction (Postfix's `instance`): such a recipient next to others, and any other
next to it, is deferred with 452 4.5.3, which tells the client to send those recipients
again in another transaction. Alone, the quota check refuses it at end of data (552) when
the real size does not fit. A message can be at most the size limit, so a mailbox with
that much room left is never the problem.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict

MAX_TRANSACTIONS = 10_000   # open at once on one daemon process, far above smtpd's limit
DEFER = "452 4.5.3 Too many recipients in this transaction: send to this one separately"


@dataclass
class _Transaction:
    recipients: int = 0
    exclusive: bool = False   # a recipient near its quota is in it


class QuotaAloneCheck:
    name = "quota_alone"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory
        self.size_limit = settings.message_size_limit
        self.transactions: OrderedDict[str, _Transaction] = OrderedDict()
        self.lock = threading.Lock()

    def check(self, request: PolicyRequest) -> Verdict | None:
        if not request.at_rcpt or not request.instance or not request.recipient:
            return None
        near = self._near_quota(request)
        with self.lock:
            transaction = self._transaction(request.instance)
            if transaction.exclusive or (near and transaction.recipients):
                return Verdict(DEFER, "a mailbox near its quota gets its own transaction")
            transaction.recipients += 1
            transaction.exclusive = near
        return None

    def _near_quota(self, request: PolicyRequest) -> bool:
        found = self.directory.recipient(request.recipient)
        # login is None only with mailbox_id (a mailbox always has its primary address).
        if found is None or found.mailbox_id is None or found.login is None:
            return False
        largest = request.size or self.size_limit
        if self.directory.used_bytes(found.login, fresh=False) + 2 * largest \
                <= found.quota_bytes:
            return False
        return self.directory.used_bytes(found.login) + largest > found.quota_bytes

    def _transaction(self, instance: str) -> _Transaction:
        transaction = self.transactions.get(instance)
        if transaction is None:
            transaction = self.transactions[instance] = _Transaction()
            while len(self.transactions) > MAX_TRANSACTIONS:
                self.transactions.popitem(last=False)
        return transaction
