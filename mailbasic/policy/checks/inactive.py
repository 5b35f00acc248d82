"""Inactive mailbox: deactivated for receiving (e.g. nothing downloaded for 90 days)."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class InactiveCheck:
    name = "inactive"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory
        self.text = settings.inactive_text

    def check(self, request: PolicyRequest) -> Verdict | None:
        if not request.at_rcpt or not request.recipient:
            return None
        found = self.directory.recipient(request.recipient)
        if found is None or found.mailbox_id is None or found.active:
            return None
        return Verdict(f"550 5.2.1 {self.text}",
                       f"mailbox {found.login} deactivated")
