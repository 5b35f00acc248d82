"""The policy checks, one module each; their order comes from policy.checks."""

from __future__ import annotations

from typing import Protocol

from mailbasic.policy.checks.inactive import InactiveCheck
from mailbasic.policy.checks.quota import QuotaCheck
from mailbasic.policy.checks.quota_alone import QuotaAloneCheck
from mailbasic.policy.checks.rate_limit import RateLimitCheck
from mailbasic.policy.checks.recipient import RecipientCheck
from mailbasic.policy.checks.sender_login import SenderLoginCheck
from mailbasic.policy.checks.sending_login import SendingLoginCheck
from mailbasic.policy.checks.size import SizeCheck
from mailbasic.policy.checks.srs_sender import SrsSenderCheck
from mailbasic.policy.request import PolicyRequest, Verdict


class Check(Protocol):
    name: str

    def check(self, request: PolicyRequest) -> Verdict | None: ...


CHECKS = {check.name: check for check in (SizeCheck, SrsSenderCheck, SendingLoginCheck,
                                           SenderLoginCheck,
                                           RateLimitCheck, RecipientCheck, InactiveCheck,
                                           QuotaCheck, QuotaAloneCheck)}
