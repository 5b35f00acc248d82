"""The jobs by name, as `mailbasic jobs NAME` and the timers know them."""

from __future__ import annotations

from collections.abc import Callable

from mailbasic.jobs import backup, collect, inactivity, log_purge, orphaned_mail, sms, spam_purge
from mailbasic.jobs.runner import JobRun

JOBS: dict[str, tuple[Callable[[JobRun], None], str]] = {
    "inactivity": (inactivity.run, "Deactivate mailboxes nobody downloads from; delete "
                                   "the mail of those idle for long, and the webmail "
                                   "contacts and calendars of those without a webmail "
                                   "login for long."),
    "spam-purge": (spam_purge.run, "Delete messages in Spam older than "
                                   "jobs.spam_max_age_days."),
    "log-purge": (log_purge.run, "Apply the SMTP log's retention; drop old rate counters."),
    "collect": (collect.run, "Collect new mail from external POP3 accounts whose interval "
                             "has passed."),
    "backup": (backup.run, "Back up the account database and every mailbox; keep the "
                           "newest backup.keep."),
    "orphaned-mail": (orphaned_mail.run, "Remove the mail directories of deleted "
                                         "mailboxes."),
    "sms": (sms.run, "Send the due SMS notifications through the gateway; retry, limit "
                     "per mailbox."),
}

# Jobs that lock each item they work on, so that two runs share the work instead of the
# second one waiting out a slow first (one slow POP3 server must not stop the others).
LOCKS_EACH_ITEM = frozenset({"collect"})
