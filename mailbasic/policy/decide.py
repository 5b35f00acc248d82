"""Run the checks in the configured order; the first verdict wins, otherwise DUNNO.
The policy never answers OK: it only refuses, Postfix's own restrictions permit."""

from __future__ import annotations

import logging

from mailbasic.config import Settings
from mailbasic.directory import shared_directory
from mailbasic.policy.checks import CHECKS
from mailbasic.policy.request import PolicyRequest

log = logging.getLogger("mailbasic.policy")

class Policy:
    def __init__(self, settings: Settings) -> None:
        self.directory = shared_directory(settings)
        self.checks = [CHECKS[name](settings, self.directory)
                       for name in settings.policy_checks]

    def decide(self, attributes: dict[str, str]) -> str:
        request = PolicyRequest.from_attributes(attributes)
        for check in self.checks:
            verdict = check.check(request)
            if verdict is not None:
                self._log(request, check.name, verdict.action, verdict.reason)
                return verdict.action
        self._log(request, "-", "DUNNO", "")
        return "DUNNO"

    @staticmethod
    def _log(request: PolicyRequest, check: str, action: str, reason: str) -> None:
        log.info("%s: check=%s action=%s state=%s client=%s from=<%s> to=<%s> reason=%s",
                 request.queue_id, check, action, request.state, request.client,
                 request.sender, request.recipient, reason or "-")
