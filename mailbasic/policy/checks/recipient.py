"""Recipient: an address of a hosted domain that reaches no mailbox (and no catch-all)."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class RecipientCheck:
    name = "recipient"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory

    def check(self, request: PolicyRequest) -> Verdict | None:
        if not request.at_rcpt or not request.recipient:
            return None
        found = self.directory.recipient(request.recipient)
        if found is None or found.mailbox_id is not None:
            return None  # not a hosted domain (relay rules decide), or it exists
        # Postfix puts "<recipient>: Recipient address rejected: " before the text.
        return Verdict("550 5.1.1 No such mailbox here", "unknown address in a hosted domain")
