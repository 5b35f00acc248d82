"""One login attempt through the defence: what the store knows, the decision, what is
written back, and one log line per decision. Dovecot's requests (server.py) and the
portal's logins (portal/throttle.py) both come through here, in their own transaction.

Log lines have one shape, as Postfix's: SESSION: stage=allow|report verdict=... status=N
protocol=... client=... login=<...> reason=...
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime

from mailbasic.auth_policy import store
from mailbasic.auth_policy.decide import (
    Block,
    Count,
    Limits,
    Subjects,
    Verdict,
    blocks_due,
    judge,
    subjects_of,
    utc_text,
)
from mailbasic.auth_policy.store import Executor

log = logging.getLogger("mailbasic.auth_policy")


@dataclass(frozen=True)
class Attempt:
    login: str
    address: str
    protocol: str            # imap, pop3, smtp, portal
    session: str = ""        # Dovecot's session id
    password_hash: str = ""  # Dovecot's hash of the password tried ("": not known)


class LoginGuard:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.repeats = RepeatedPasswords()

    def check(self, database: Executor, attempt: Attempt, *, hold: bool = True,
              now: datetime | None = None) -> Verdict:
        """Before the password is checked: allow, hold (Dovecot) or wait (portal), refuse."""
        now = now or datetime.now(UTC)
        subjects = self._subjects(attempt)
        verdict = judge(store.standing(database, subjects, self.limits, now), self.limits,
                        now, hold=hold)
        _log(attempt, "allow", verdict.name, verdict.reason, verdict.status)
        return verdict

    def failed(self, database: Executor, attempt: Attempt,
               now: datetime | None = None) -> list[Block]:
        """A wrong password: count it, and begin the blocks it brings; those blocks."""
        now = now or datetime.now(UTC)
        if self.repeats.seen(attempt):
            # A device with an old password retrying is one mistake, not a new guess.
            _log(attempt, "report", "repeat", "the same wrong password again, not counted")
            return []
        subjects = self._subjects(attempt)
        counts = store.count_failure(database, subjects, self.limits, now)
        self.repeats.remember(attempt)     # counted: from now on a repeat is one
        blocks = blocks_due(counts, store.active_blocks(database, subjects.keys(), now),
                            self.limits, now)
        store.begin_blocks(database, blocks, _block_reason(attempt, counts), now)
        _log(attempt, "report", "failure", _counts_text(counts))
        for block in blocks:
            _log(attempt, "report", "block", f"{block.scope} {block.key} blocked until "
                 f"{utc_text(block.until)} after {block.failures} failures")
        return blocks

    def succeeded(self, database: Executor, attempt: Attempt,
                  now: datetime | None = None) -> None:
        """The right password: the client starts afresh and is known to the account."""
        now = now or datetime.now(UTC)
        subjects = self._subjects(attempt)
        store.forget_client(database, subjects)
        store.remember_client(database, subjects, now)
        _log(attempt, "report", "success", f"client failures forgotten, {subjects.known_as} "
             "known to the account" if subjects.known_as else "trusted or unknown client")

    def _subjects(self, attempt: Attempt) -> Subjects:
        return subjects_of(attempt.login, attempt.address, self.limits)


def _counts_text(counts: list[Count]) -> str:
    return ", ".join(f"{count.scope} {count.key} {count.failures}" for count in counts) or "-"


def _block_reason(attempt: Attempt, counts: list[Count]) -> str:
    return (f"{_counts_text(counts)} failed logins; the last over {attempt.protocol} "
            f"for {attempt.login or '-'} from {attempt.address or '-'}")


def _log(attempt: Attempt, stage: str, verdict: str, reason: str, status: int | None = None,
         ) -> None:
    log.info("%s: stage=%s verdict=%s status=%s protocol=%s client=%s login=<%s> reason=%s",
             attempt.session or "NOSESSION", stage, verdict, "-" if status is None else status,
             attempt.protocol or "-", attempt.address or "-", attempt.login, reason)


class RepeatedPasswords:
    """The last few wrong password hashes per client and login, in this process only (a
    restart just counts a repeat once more). Dovecot truncates the hash to 32 bits
    (auth_policy_hash_truncate), so a new guess matches an old one by chance once in
    hundreds of millions: no attacker gets uncounted guesses that way."""

    PER_LOGIN = 8
    LOGINS = 100_000     # bounded memory: the least recently failed are dropped

    def __init__(self) -> None:
        self._hashes: OrderedDict[tuple[str, str], deque[str]] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, attempt: Attempt) -> bool:
        """Whether this wrong password was counted before."""
        with self._lock:
            return attempt.password_hash in self._hashes.get(_key(attempt), ())

    def remember(self, attempt: Attempt) -> None:
        if not attempt.password_hash:
            return
        with self._lock:
            hashes = self._hashes.pop(_key(attempt), None) or deque(maxlen=self.PER_LOGIN)
            hashes.append(attempt.password_hash)
            self._hashes[_key(attempt)] = hashes      # the most recent last
            if len(self._hashes) > self.LOGINS:
                self._hashes.popitem(last=False)


def _key(attempt: Attempt) -> tuple[str, str]:
    return attempt.address, attempt.login
