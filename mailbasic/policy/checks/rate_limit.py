"""Rate limit: per authenticated login, recipients (at RCPT) and messages (at end of
data) per clock hour, counted in the database. A transaction that trips it is a sending
incident of the login (mailbasic/abuse/): repeated, they stop its SMTP AUTH."""

from mailbasic.abuse.incidents import Incident
from mailbasic.abuse.reporter import SendingAbuse
from mailbasic.config import Settings
from mailbasic.directory import Directory, TtlCache
from mailbasic.policy.request import PolicyRequest, Verdict

# How long a transaction is remembered as reported; Postfix ends one far sooner.
REPORTED_SECONDS = 3600.0


class RateLimitCheck:
    name = "rate_limit"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory
        self.messages = settings.rate_messages_per_hour
        self.recipients = settings.rate_recipients_per_hour
        self.abuse = SendingAbuse(settings)
        # (login, Postfix's instance) already reported: a client refused at every further
        # RCPT of one transaction tripped the limit once, not fifty times.
        self.reported: TtlCache[object] = TtlCache(REPORTED_SECONDS)

    def check(self, request: PolicyRequest) -> Verdict | None:
        login = request.sasl_username
        if not login or not (request.at_rcpt or request.at_end_of_message):
            return None
        messages, recipients = self.directory.count(
            login, messages=int(request.at_end_of_message), recipients=int(request.at_rcpt))
        if request.at_rcpt and recipients > self.recipients:
            return self._refuse(request, f"{recipients} recipients this hour > "
                                         f"{self.recipients}")
        if request.at_end_of_message and messages > self.messages:
            return self._refuse(request, f"{messages} messages this hour > {self.messages}")
        return None

    def _refuse(self, request: PolicyRequest, reason: str) -> Verdict:
        self._report_once(request, reason)
        return Verdict("450 4.7.1 Sending rate limit reached, please try again later",
                       reason)

    def _report_once(self, request: PolicyRequest, reason: str) -> None:
        incident = Incident(request.sasl_username, "rate_limit", reason,
                            request.queue_id if request.queue_id != "NOQUEUE" else None,
                            request.client_address or None,
                            request.client.rpartition("[")[0] or "unknown")
        if not request.instance:  # not from Postfix: every refusal is a transaction
            self.abuse.report(incident)
            return
        self.reported.get((request.sasl_username, request.instance),
                          lambda: self.abuse.report(incident))
