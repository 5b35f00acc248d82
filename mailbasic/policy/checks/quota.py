"""Quota: what Dovecot counts as used, plus the announced size, over the mailbox quota."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class QuotaCheck:
    name = "quota"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory
        self.code = "552 5.2.2" if settings.quota_refusal == "permanent" else "452 4.2.2"
        # Far below the quota, a reading of the usage a moment old (USAGE_SECONDS) gives
        # the answer a fresh one would, unless more than this arrived in that moment;
        # Dovecot still enforces the quota itself at delivery.
        self.headroom = 2 * settings.message_size_limit

    def check(self, request: PolicyRequest) -> Verdict | None:
        # At end of data Postfix names the recipient only when there is exactly one.
        if not request.recipient or not (request.at_rcpt or request.at_end_of_message):
            return None
        found = self.directory.recipient(request.recipient)
        # A mailbox always has its primary address, its login (a constraint trigger holds
        # that), so login is None only with mailbox_id.
        if found is None or found.mailbox_id is None or found.login is None:
            return None
        size = request.size or 0
        recent = self.directory.used_bytes(found.login, fresh=False)
        if recent + size + self.headroom <= found.quota_bytes:
            return None
        used = self.directory.used_bytes(found.login)  # near the quota: read it now
        if used + size <= found.quota_bytes:
            return None
        return Verdict(f"{self.code} Mailbox full, the recipient cannot receive this "
                       "message now",
                       f"{found.login}: {used} used + {size} > "
                       f"{found.quota_bytes}")
