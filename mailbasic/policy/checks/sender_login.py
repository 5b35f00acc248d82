"""Sender login: an authenticated client sends only as one of its mailbox's addresses,
and never with the null sender (which is for bounces: it would hide who sent the mail
and draw no bounce back)."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class SenderLoginCheck:
    name = "sender_login"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory

    def check(self, request: PolicyRequest) -> Verdict | None:
        if not request.at_rcpt or not request.sasl_username:
            return None
        if not request.sender:
            return Verdict("553 5.7.1 Authenticated mail needs a sender address of your own "
                           "(the null sender <> is for bounces only)",
                           f"{request.sasl_username} sent with the null sender")
        if request.sender in self.directory.addresses_of(request.sasl_username):
            return None
        return Verdict(f"553 5.7.1 Sender address <{request.sender}> is not owned by user "
                       f"{request.sasl_username}",
                       f"{request.sasl_username} may not send as {request.sender}")
