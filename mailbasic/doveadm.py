"""doveadm, the one way mailbasic touches stored mail: Dovecot keeps its indexes and
quota usage right, which deleting Maildir files behind its back would not."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from mailbasic.errors import MailbasicError

TIMEOUT_SECONDS = 600


class DoveadmError(MailbasicError):
    """doveadm failed; the job stops and says why."""


@dataclass(frozen=True)
class Doveadm:
    command: tuple[str, ...]

    def run(self, *arguments: str) -> str:
        try:
            done = subprocess.run([*self.command, *arguments], capture_output=True,
                                  text=True, timeout=TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DoveadmError(f"doveadm {arguments[0]}: {error}") from None
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise DoveadmError(f"doveadm {' '.join(arguments)}: {reason}")
        return done.stdout

    def count(self, user: str, *query: str) -> int:
        """How many messages of `user` match the search query."""
        return len(self.run("search", "-u", user, *query).splitlines())

    def expunge(self, user: str, *query: str) -> None:
        self.run("expunge", "-u", user, *query)

    def users(self) -> list[str]:
        """Every user Dovecot's userdb iterates (the mailboxes' primary addresses)."""
        return self.run("user", "*").split()
