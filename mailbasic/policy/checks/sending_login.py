"""Sending login: an SMTP session authenticated before its mailbox was suspended, its
SMTP AUTH switched off, or its sending stopped for abuse, sends nothing more. New logins
are refused by Dovecot; this closes the sessions already open, at their next recipient."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class SendingLoginCheck:
    name = "sending_login"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory

    def check(self, request: PolicyRequest) -> Verdict | None:
        if not request.at_rcpt or not request.sasl_username:
            return None
        why = self.directory.sending_stopped(request.sasl_username)
        if why is None:
            return None
        return Verdict(f"554 5.7.1 Sending from {request.sasl_username} is stopped: {why}",
                       f"{request.sasl_username}: {why}")
