"""What the policy daemon and the milter call when an authenticated login trips the rate
limit or sends spam: record the incident and, at the threshold, stop the login's SMTP
AUTH, make Dovecot forget its cached login, and tell the customer.

Database errors propagate: the caller is a protocol boundary that answers 4xx (fail
closed). What follows the commit (Dovecot, the notice by mail) is logged when it fails:
the suspension itself stands, and Dovecot's auth_cache_ttl bounds a cached login."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from mailbasic.abuse import incidents, notice
from mailbasic.abuse.incidents import Incident, Recorded, Threshold
from mailbasic.config import Settings
from mailbasic.directory import directory_engine, retrying
from mailbasic.dovecot_logins import DovecotLogins
from mailbasic.mailer import Mailer

log = logging.getLogger("mailbasic.abuse")


class SendingAbuse:
    def __init__(self, settings: Settings) -> None:
        # The process's one pool, in transactions: the lock, the count and the suspension
        # are one decision.
        self.engine = directory_engine(settings).execution_options(
            isolation_level="READ COMMITTED")
        self.threshold = Threshold(settings.abuse_incidents, settings.abuse_window_minutes)
        self.settings = settings
        self.mailer = Mailer(settings)
        self.dovecot = DovecotLogins.of(settings)

    def report(self, incident: Incident) -> Recorded:
        if "@" not in incident.login:  # Dovecot's default realm: "alice" is a login too
            incident = replace(incident, login=f"{incident.login}@"
                                               f"{self.settings.service_domain}")
        recorded = self._record(incident)
        _log_incident(incident, recorded, self.threshold)
        if recorded.verdict == "suspended":
            _log_suspension(incident, recorded)
            self.dovecot.changed(incident.login.lower())  # logs its own failure
            self._send_notice(incident, recorded)
        return recorded

    @retrying
    def _record(self, incident: Incident) -> Recorded:
        with self.engine.begin() as connection:
            return incidents.record(connection, incident, self.threshold)

    def _send_notice(self, incident: Incident, recorded: Recorded) -> None:
        queue_id = incident.queue_id or "NOQUEUE"
        if recorded.other_mailbox is None:
            log.info("%s: stage=abuse verdict=no-notice reason=the customer has no other "
                     "mailbox to tell client=%s login=%s", queue_id, incident.client,
                     incident.login)
            return
        data = notice.compose_mail(incident.login, recorded.other_mailbox, recorded.reason,
                                   datetime.now(UTC), self.settings.service_domain,
                                   self.settings.portal_base_url)
        self.mailer.send_later(queue_id, recorded.other_mailbox, data, stage="abuse")


def _log_incident(incident: Incident, recorded: Recorded, threshold: Threshold) -> None:
    log.info("%s: stage=abuse verdict=%s reason=%s: %s client=%s login=%s incidents=%s",
             incident.queue_id or "NOQUEUE",
             "incident" if recorded.counted else recorded.verdict,
             incident.kind, incident.detail, incident.client, incident.login,
             f"{recorded.counted}/{threshold.incidents}" if recorded.counted else "-")


def _log_suspension(incident: Incident, recorded: Recorded) -> None:
    log.warning("%s: stage=abuse verdict=submission-suspended reason=%s client=%s "
                "login=%s sms=%s notice=%s", incident.queue_id or "NOQUEUE",
                recorded.reason, incident.client, incident.login,
                "queued" if recorded.sms_queued else "not set up",
                recorded.other_mailbox or "none")
