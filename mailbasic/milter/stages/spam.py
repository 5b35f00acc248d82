"""Spam: the spam engine's verdict (spamd's or rspamd's, spam.engine) written in
SpamAssassin's own header conventions.

X-Spam-* headers from outside are removed first, whatever happens next: nobody outside
may pretend a message was scanned.

Authenticated submissions are scanned too, as the provider's judgment of the login (with
spamd.default_user, not a recipient's settings), and are not tagged: the headers are
the recipient's business, not the sender's (spamd.scan_authenticated = true tags them as
well). One scored as spam is refused inside the transaction, for good (554: the same
message scores the same again), and is a sending incident of the login
(mailbasic/abuse/): a leaked password sending spam loses SMTP AUTH.
"""

from __future__ import annotations

import re

from mailbasic.abuse.incidents import Incident
from mailbasic.abuse.reporter import SendingAbuse
from mailbasic.config import Settings
from mailbasic.directory import shared_directory
from mailbasic.milter.decisions import (
    Action,
    AddHeader,
    DeleteHeader,
    Outcome,
    Reply,
    tempfail,
)
from mailbasic.milter.message import Message
from mailbasic.scanners.engines import spam_engine
from mailbasic.scanners.rspamd import Envelope
from mailbasic.scanners.spamd import SpamdError, SpamReport

MAX_STARS = 50  # SpamAssassin's _STARS_ stops at 50 too
MAX_TESTS_NOTED = 10  # in an incident's detail
FOLD_WIDTH = 70
_BREAK = re.compile(r"(?<=[ ,])")   # after a space or a comma


def spam_headers(report: SpamReport) -> list[AddHeader]:
    verdict = "Yes" if report.is_spam else "No"
    tests = ",".join(report.tests) or "none"
    status = f"{verdict}, score={report.score:.1f} required={report.threshold:.1f} tests={tests}"
    headers = [AddHeader("X-Spam-Flag", "YES")] if report.is_spam else []
    return headers + [
        AddHeader("X-Spam-Score", f"{report.score:.1f}"),
        AddHeader("X-Spam-Level", "*" * min(max(int(report.score), 0), MAX_STARS)),
        AddHeader("X-Spam-Status", folded(status)),
    ]


def folded(text: str, width: int = FOLD_WIDTH) -> str:
    """TEXT as a header value of lines of at most WIDTH characters where it can be,
    broken only after a space or a comma, as SpamAssassin folds its test list: a test
    name is never cut in two (one longer than WIDTH gets a line of its own). Lines are
    joined with "\\n\\t", as libmilter takes a folded value."""
    lines: list[str] = []
    line = ""
    for piece in _BREAK.split(text):
        if line.strip() and len((line + piece).rstrip()) > width:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return "\n\t".join(lines)


class SpamStage:
    name = "spam"

    def __init__(self, settings: Settings) -> None:
        self.engine = spam_engine(settings)
        # spamd's User: (rspamd's Deliver-To) is the recipient's mailbox (its per-user
        # settings and Bayes).
        self.directory = shared_directory(settings)
        self.fail_open = settings.spamd_fail_open
        self.cap = settings.spam_scan_cap
        self.default_user = settings.spamd_default_user
        self.tag_submissions = settings.spam_scan_authenticated
        self.abuse = SendingAbuse(settings)

    def run(self, message: Message) -> Outcome:
        removals = tuple(DeleteHeader(name, index) for name, index in reversed(
            message.header_indices(lambda key: key.startswith("x-spam-"))))
        login = message.client.auth_user
        tag = login is None or self.tag_submissions
        if message.size > self.cap:
            return self._not_scanned(removals, f"larger than {self.cap} bytes", tag=tag)
        try:
            user = self._user(message)
            with message.reader() as spool:
                report = self.engine.check(spool, message.size, user,
                                           self._envelope(message, user))
        except SpamdError as error:
            if self.fail_open:
                return self._not_scanned(removals, f"{self.engine.name} unavailable",
                                         str(error), tag=tag)
            return tempfail(self.name, str(error),
                            "Spam filter unavailable, please try again later")
        if login is not None and report.is_spam:
            return self._refuse_submission(message, login, report, removals)
        if not tag:
            return Outcome(self.name, "ham", f"submission, score {_score(report)}", removals)
        message.spam_score = round(report.score, 1)  # for the mailboxes' rules
        actions: tuple[Action, ...] = removals + tuple(spam_headers(report))
        return Outcome(self.name, "spam" if report.is_spam else "ham",
                       f"score {_score(report)}", actions)

    def _refuse_submission(self, message: Message, login: str, report: SpamReport,
                           removals: tuple[Action, ...]) -> Outcome:
        """Refused, and reported as the login's incident (which may stop its SMTP AUTH)."""
        tests = ",".join(report.tests[:MAX_TESTS_NOTED]) or "none"
        self.abuse.report(Incident(
            login, "spam", f"outgoing mail scored {_score(report)} ({tests})",
            message.queue_id if message.queue_id != "NOQUEUE" else None,
            message.client.address, message.client.name))
        text = (f"Message refused as spam (score {report.score:.1f}, limit "
                f"{report.threshold:.1f}) and not sent; repeated spam stops sending "
                "from this login")
        return Outcome(self.name, "spam", f"submission, score {_score(report)}", removals,
                       refusal=Reply("554", "5.7.1", text))

    def _user(self, message: Message) -> str:
        """The one recipient's mailbox (its login), else the configured default user; for
        a submission always the default user: whether a login sends spam is not for a
        recipient's own settings to decide."""
        if message.client.auth_user or len(message.recipients) != 1:
            return self.default_user
        found = self.directory.recipient(message.recipients[0].lower())
        if found is None or found.login is None:
            return self.default_user
        return found.login

    def _envelope(self, message: Message, user: str) -> Envelope:
        client = message.client
        return Envelope(message.sender, tuple(message.recipients), client.address,
                        client.helo, "" if client.name.startswith("[") else client.name,
                        client.auth_user, message.queue_id,
                        None if user == self.default_user else user)

    def _not_scanned(self, removals: tuple[Action, ...], why: str, reason: str = "", *,
                     tag: bool = True) -> Outcome:
        note = (AddHeader("X-Spam-Status", f"No, not scanned: {why}"),) if tag else ()
        return Outcome(self.name, "not-scanned", reason or why, removals + note)


def _score(report: SpamReport) -> str:
    return f"{report.score:.1f}/{report.threshold:.1f}"
