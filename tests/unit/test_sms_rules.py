"""Which arriving messages a mailbox wants an SMS for."""

from __future__ import annotations

import pytest

from mailbasic.schema import SmsRuleKind
from mailbasic.sms.rules import Arrival, SmsProfile, matching_rule, wants_fax_notice

PROFILE = SmsProfile(1, "+491701234567", (
    (SmsRuleKind.SENDER, "chef@firma.example"), (SmsRuleKind.SENDER, "@bank.example"),
    (SmsRuleKind.SUBJECT, "Dringend"), (SmsRuleKind.HIGH_PRIORITY, None)))


def arrival(senders=("someone@remote.example",), subject="hello", **headers) -> Arrival:
    return Arrival(tuple(senders), subject,
                   tuple((name.replace("_", "-"), value) for name, value in headers.items()))


@pytest.mark.parametrize("message, reason", [
    (arrival(["bounce@list.example", "chef@firma.example"]), "sender chef@firma.example"),
    (arrival(["alerts@bank.example"]), "sender @bank.example"),
    (arrival(subject="RE: dringend!"), "subject contains 'Dringend'"),
    (arrival(X_Priority="1 (Highest)"), "high priority"),
    (arrival(X_Priority="2"), "high priority"),
    (arrival(Importance="High"), "high priority"),
    (arrival(Priority="urgent"), "high priority"),
])
def test_the_first_matching_rule_is_the_reason(message, reason):
    assert matching_rule(PROFILE, message) == reason


@pytest.mark.parametrize("message", [
    arrival(["chef@firma.example.evil"]),
    arrival(["x@sub.bank.example"]),
    arrival(subject="nothing urgent"),
    arrival(X_Priority="3 (Normal)"),
    arrival(X_Priority="12"),
    arrival(Importance="low"),
])
def test_other_mail_gets_no_sms(message):
    assert matching_rule(PROFILE, message) is None


def test_a_fax_rule_is_only_for_faxes():
    faxes = SmsProfile(2, "+4930123456", ((SmsRuleKind.FAX, None),))
    assert wants_fax_notice(faxes) and not wants_fax_notice(PROFILE)
    assert matching_rule(faxes, arrival(subject="Fax from 123")) is None
