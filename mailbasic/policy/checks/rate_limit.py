"""Rate limit: per authenticated login, recipients (at RCPT) and messages (at end of
data) per clock hour, counted in the database."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class RateLimitCheck:
    name = "rate_limit"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory
        self.messages = settings.rate_messages_per_hour
        self.recipients = settings.rate_recipients_per_hour

    def check(self, request: PolicyRequest) -> Verdict | None:
        login = request.sasl_username
        if not login or not (request.at_rcpt or request.at_end_of_message):
            return None
        messages, recipients = self.directory.count(
            login, messages=int(request.at_end_of_message), recipients=int(request.at_rcpt))
        if request.at_rcpt and recipients > self.recipients:
            return self._refuse(f"{recipients} recipients this hour > {self.recipients}")
        if request.at_end_of_message and messages > self.messages:
            return self._refuse(f"{messages} messages this hour > {self.messages}")
        return None

    @staticmethod
    def _refuse(reason: str) -> Verdict:
        return Verdict("450 4.7.1 Sending rate limit reached, please try again later",
                       reason)
