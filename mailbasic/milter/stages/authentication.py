"""Authentication: mail from outside (no SASL login) gets its SPF, DKIM and DMARC checked
(mailbasic/authentication/) and one Authentication-Results header with our authserv-id,
the service's host name, put above the others. The own_headers stage has already removed
any that claimed that id.

A DMARC failure under p=reject is refused here, 550 5.7.1, before the scanners run; one
under p=quarantine is marked (verdict "quarantine") so that the rules stage applies each
mailbox's spam action (see `quarantined`). Either reason says why the From: domain failed
(decide.py): "DMARC quarantine: example.org fails (SPF fail for example.org, no DKIM
signature): treated as spam, each recipient mailbox's spam action applies".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailbasic.authentication.checks import Envelope, SenderChecks
from mailbasic.authentication.decide import QUARANTINE, decide
from mailbasic.authentication.resolver import make_resolver
from mailbasic.authentication.results import HEADER, header_value
from mailbasic.config import Settings, service_host_names
from mailbasic.milter.decisions import AddHeader, Outcome, Reply
from mailbasic.milter.message import Message

NAME = "authentication"
_LINE_END = re.compile(rb"\r?\n")


class AuthenticationStage:
    name = NAME

    def __init__(self, settings: Settings, checks: SenderChecks | None = None) -> None:
        self.checks = checks or SenderChecks(make_resolver(settings.dns_nameservers))
        self.authserv_id = service_host_names(settings)[0]

    def run(self, message: Message) -> Outcome:
        if message.client.auth_user:
            return Outcome(self.name, "none", "authenticated submission")
        client = message.client
        report = self.checks.check(Envelope(client.address, client.helo, message.sender),
                                   message.headers, lambda: _raw(message))
        decision = decide(report.dmarc, report.results)
        header = AddHeader(HEADER, header_value(self.authserv_id, list(report.results)),
                           prepend=True)
        refusal = (Reply("550", "5.7.1", decision.refusal_text)
                   if decision.refusal_text else None)
        return Outcome(self.name, decision.verdict, decision.reason, (header,), refusal)


def quarantined(outcomes: Sequence[Outcome]) -> bool:
    """Whether this stage found a DMARC failure whose policy is quarantine."""
    return any(outcome.stage == NAME and outcome.verdict == QUARANTINE
               for outcome in outcomes)


def _raw(message: Message) -> bytes:
    """The message as received, with CRLF line ends (as dkimpy verifies it)."""
    with message.reader() as spool:
        return _LINE_END.sub(b"\r\n", spool.read())
