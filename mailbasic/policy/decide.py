"""Run the checks in the configured order; the first verdict wins, otherwise DUNNO.
The policy never answers OK: it only refuses, Postfix's own restrictions permit."""

from __future__ import annotations

import logging

from sqlalchemy import create_engine

from mailbasic.config import Settings
from mailbasic.policy.checks import CHECKS
from mailbasic.policy.directory import Directory
from mailbasic.policy.request import PolicyRequest

log = logging.getLogger("mailbasic.policy")

STATEMENT_TIMEOUT_MS = 3000  # far below Postfix's smtpd_policy_service_timeout (100 s)


class Policy:
    def __init__(self, settings: Settings) -> None:
        # Every statement stands alone (reads, and the atomic counter upsert): autocommit
        # spares a BEGIN and a ROLLBACK round trip per lookup. No pre-ping either: a dead
        # pooled connection fails one request (closed without an answer: Postfix 451)
        # and the pool replaces it.
        engine = create_engine(
            settings.database_url, pool_size=20, max_overflow=20,
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 3,
                          "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"})
        self.directory = Directory(engine, settings.policy_cache_seconds,
                                   settings.service_domain)
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
