"""Spam: spamd's verdict written in SpamAssassin's own header conventions.

X-Spam-* headers from outside are removed first, whatever happens next: nobody outside
may pretend a message was scanned.
"""

from __future__ import annotations

import textwrap

from mailbasic.config import Settings
from mailbasic.directory import shared_directory
from mailbasic.milter.decisions import Action, AddHeader, DeleteHeader, Outcome, tempfail
from mailbasic.milter.message import Message
from mailbasic.scanners.spamd import SpamdClient, SpamdError, SpamReport

MAX_STARS = 50  # SpamAssassin's _STARS_ stops at 50 too


def spam_headers(report: SpamReport) -> list[AddHeader]:
    verdict = "Yes" if report.is_spam else "No"
    tests = ",".join(report.tests) or "none"
    status = f"{verdict}, score={report.score:.1f} required={report.threshold:.1f} tests={tests}"
    headers = [AddHeader("X-Spam-Flag", "YES")] if report.is_spam else []
    return headers + [
        AddHeader("X-Spam-Score", f"{report.score:.1f}"),
        AddHeader("X-Spam-Level", "*" * min(max(int(report.score), 0), MAX_STARS)),
        AddHeader("X-Spam-Status", "\n\t".join(textwrap.wrap(status, 70,
                                                             break_on_hyphens=False))),
    ]


class SpamStage:
    name = "spam"

    def __init__(self, settings: Settings) -> None:
        self.client = SpamdClient(settings.spamd_host, settings.spamd_port,
                                  settings.spamd_timeout)
        # spamd's User: is the recipient's mailbox (its per-user settings and Bayes).
        self.directory = shared_directory(settings)
        self.fail_open = settings.spamd_fail_open
        self.cap = settings.spam_scan_cap
        self.default_user = settings.spamd_default_user
        self.scan_authenticated = settings.spam_scan_authenticated

    def run(self, message: Message) -> Outcome:
        removals = tuple(DeleteHeader(name, index) for name, index in reversed(
            message.header_indices(lambda key: key.startswith("x-spam-"))))
        if message.client.auth_user and not self.scan_authenticated:
            return Outcome(self.name, "skipped", "authenticated submission", removals)
        if message.size > self.cap:
            return self._not_scanned(removals, f"larger than {self.cap} bytes")
        try:
            with message.reader() as spool:
                report = self.client.check(spool, message.size, self._user(message))
        except SpamdError as error:
            if self.fail_open:
                return self._not_scanned(removals, "spamd unavailable", str(error))
            return tempfail(self.name, str(error),
                            "Spam filter unavailable, please try again later")
        message.spam_score = round(report.score, 1)  # for the mailboxes' rules
        actions: tuple[Action, ...] = removals + tuple(spam_headers(report))
        return Outcome(self.name, "spam" if report.is_spam else "ham",
                       f"score {report.score:.1f}/{report.threshold:.1f}", actions)

    def _user(self, message: Message) -> str:
        """The one recipient's mailbox (its login), else the configured default user."""
        if len(message.recipients) != 1:
            return self.default_user
        found = self.directory.recipient(message.recipients[0].lower())
        if found is None or found.login is None:
            return self.default_user
        return found.login

    def _not_scanned(self, removals: tuple[Action, ...], why: str, reason: str = "") -> Outcome:
        note = AddHeader("X-Spam-Status", f"No, not scanned: {why}")
        return Outcome(self.name, "not-scanned", reason or why, removals + (note,))
