"""Sender login: an authenticated client sends only as one of its mailbox's addresses."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class SenderLoginCheck:
    name = "sender_login"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory

    def check(self, request: PolicyRequest) -> Verdict | None:
        if not request.at_rcpt or not request.sasl_username or not request.sender:
            return None
        if request.sender in self.directory.addresses_of(request.sasl_username):
            return None
        return Verdict(f"553 5.7.1 Sender address <{request.sender}> is not owned by user "
                       f"{request.sasl_username}",
                       f"{request.sasl_username} may not send as {request.sender}")
