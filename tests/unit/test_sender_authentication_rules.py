"""The decision code of sender authentication (mailbasic/authentication/): DMARC records,
alignment and verdicts, what the milter does with them, the Authentication-Results
header, and the stages' pure parts. The DNS side is tested against the stack's real
resolver in tests/e2e/test_sender_authentication.py; here DNS is asked only of a real
socket that never answers, for the time budget."""

import socket
import time

import pytest

from mailbasic.authentication.checks import Envelope, SenderChecks
from mailbasic.authentication.decide import decide
from mailbasic.authentication.dmarc import (
    Identifiers,
    Record,
    Verdict,
    aligned,
    judge,
    organizational_domain,
    parse_record,
    strictest,
)
from mailbasic.authentication.resolver import make_resolver
from mailbasic.authentication.results import Result, authserv_id_of, header_value
from mailbasic.config import ConfigError, load_settings
from mailbasic.milter.decisions import Outcome
from mailbasic.milter.stages.authentication import quarantined

NOBODY = Identifiers(None, ())


@pytest.mark.parametrize("text, record", [
    ("v=DMARC1; p=reject", Record("reject", "reject")),
    ("v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=s;pct=20",
     Record("quarantine", "none", "s", "s", 20)),
    ("v=DMARC1; p=NONE; rua=mailto:d@example.com", Record("none", "none")),
    ("v=DMARC1; p=bogus; rua=mailto:d@example.com", Record("none", "none")),  # 6.6.3
    ("v=DMARC1; p=reject; pct=x; sp=unknown", Record("reject", "reject")),
])
def test_records_are_read(text, record):
    assert parse_record(text) == record


@pytest.mark.parametrize("text", ["v=spf1 -all", "p=reject; v=DMARC1", "v=DMARC1; p=bogus",
                                  "v=DMARC2; p=reject", ""])
def test_what_is_not_a_record(text):
    assert parse_record(text) is None


def test_organizational_domains_come_from_the_shipped_public_suffix_list():
    assert organizational_domain("mail.news.example.co.uk") == "example.co.uk"
    assert organizational_domain("A.B.Forged.Example.") == "forged.example"
    assert organizational_domain("example") == "example"


@pytest.mark.parametrize("identifier, mode, expected", [
    ("example.com", "r", True), ("bounce.example.com", "r", True),
    ("bounce.example.com", "s", False), ("example.com", "s", True),
    ("example.co.uk", "r", False), ("other.example", "r", False),
])
def test_alignment_relaxed_and_strict(identifier, mode, expected):
    from_domain = "example.com" if identifier != "example.co.uk" else "shop.co.uk"
    assert aligned(identifier, from_domain, mode) is expected


def test_aligned_dkim_or_spf_passes():
    record = Record("reject", "reject")
    dkim = judge("example.com", record, False, Identifiers(None, ("mail.example.com",)))
    spf = judge("example.com", record, False, Identifiers("bounces.example.com", ()))
    assert (dkim.result, spf.result) == ("pass", "pass")
    assert dkim.disposition == spf.disposition == "none"


def test_unaligned_fails_with_the_policy_and_sp_for_subdomains():
    unaligned = Identifiers("other.example", ("third.example",))
    assert judge("example.com", Record("reject", "reject"), False, unaligned) == Verdict(
        "fail", "example.com", "reject", "reject",
        "neither SPF nor DKIM aligned with the From: domain")
    inherited = judge("shop.example.com", Record("reject", "quarantine"), True, unaligned)
    assert (inherited.policy, inherited.disposition) == ("quarantine", "quarantine")


def test_strict_alignment_refuses_a_subdomain():
    record = Record("reject", "reject", dkim_mode="s", spf_mode="s")
    verdict = judge("example.com", record, False, Identifiers("mail.example.com",
                                                              ("mail.example.com",)))
    assert verdict.result == "fail"


def test_pct_outside_the_sample_takes_the_next_weaker_policy():
    record = Record("reject", "reject", percent=30)
    inside = judge("example.com", record, False, NOBODY, sample=lambda: 0.1)
    outside = judge("example.com", record, False, NOBODY, sample=lambda: 0.5)
    assert (inside.disposition, outside.disposition) == ("reject", "quarantine")
    weakest = judge("example.com", Record("quarantine", "quarantine", percent=0), False,
                    NOBODY, sample=lambda: 0.0)
    assert weakest.disposition == "none"


def test_the_strictest_of_several_from_domains_wins():
    verdicts = [Verdict("pass", "a.example"), Verdict("fail", "b.example", "reject", "reject"),
                Verdict("fail", "c.example", "quarantine", "quarantine")]
    assert strictest(verdicts).domain == "b.example"


@pytest.mark.parametrize("verdict, expected, refused", [
    (Verdict("fail", "example.com", "reject", "reject", "x"), "reject", True),
    (Verdict("fail", "example.com", "quarantine", "quarantine", "x"), "quarantine", False),
    (Verdict("fail", "example.com", "reject", "quarantine", "x"), "quarantine", False),
    (Verdict("fail", "example.com", "none", "none", "x"), "fail", False),
    (Verdict("temperror", "example.com", reason="DNS timeout"), "temperror", False),
    (Verdict("none", "example.com", reason="no DMARC record"), "none", False),
    (Verdict("pass", "example.com", "reject", "none", "SPF aligned"), "pass", False),
])
def test_what_the_milter_does_with_each_verdict(verdict, expected, refused):
    decision = decide(verdict)
    assert decision.verdict == expected
    assert (decision.refusal_text is not None) is refused


SPF_FAIL = Result("spf", "fail", (("smtp.mailfrom", "news@example.org"),), "not permitted")
HELO_NONE = Result("spf", "none", (("smtp.helo", "mx.sender.example"),))
NO_DKIM = Result("dkim", "none")
QUARANTINE = Verdict("fail", "example.org", "quarantine", "quarantine",
                     "neither SPF nor DKIM aligned with the From: domain")


def test_a_quarantine_says_which_domain_failed_and_how():
    decision = decide(QUARANTINE, (SPF_FAIL, HELO_NONE, NO_DKIM))
    assert decision.verdict == "quarantine"
    assert decision.reason == (
        "DMARC quarantine: example.org fails (SPF fail for example.org, no DKIM signature)"
        ": treated as spam, each recipient mailbox's spam action applies")


def test_a_quarantine_names_unaligned_passes_and_failed_signatures():
    results = (Result("spf", "pass", (("smtp.mailfrom", "b@bounces.other.example"),)),
               Result("dkim", "pass", (("header.d", "other.example"), ("header.s", "s1"))),
               Result("dkim", "fail", (("header.d", "example.org"), ("header.s", "s2")),
                      "body hash mismatch"))
    assert decide(QUARANTINE, results).reason.startswith(
        "DMARC quarantine: example.org fails (SPF pass for bounces.other.example, not "
        "aligned, no aligned DKIM: d=other.example pass, d=example.org fail): ")


def test_a_null_senders_quarantine_names_the_helo_check():
    reason = decide(QUARANTINE, (Result("spf", "softfail", (("smtp.helo", "mx.x.example"),)),
                                 NO_DKIM)).reason
    assert reason.startswith("DMARC quarantine: example.org fails (null sender, SPF "
                             "softfail for HELO mx.x.example, no DKIM signature)")
    assert "(null sender, no SPF identity, no DKIM signature)" in decide(QUARANTINE).reason


def test_a_quarantine_by_pct_names_the_policy_and_bounds_what_it_names():
    sampled = Verdict("fail", "example.org", "reject", "quarantine", "x")
    signatures = tuple(Result("dkim", "fail", (("header.d", f"d{number}.example\r\nX"),))
                       for number in range(8))
    reason = decide(sampled, (SPF_FAIL, *signatures)).reason
    assert reason.startswith("DMARC quarantine (p=reject, pct= sample): example.org fails")
    assert "d=d4.example??X fail and 3 more)" in reason and "d5" not in reason
    assert "\n" not in reason


def test_a_reject_says_why_too():
    rejected = Verdict("fail", "example.org", "reject", "reject", "x")
    decision = decide(rejected, (SPF_FAIL, NO_DKIM))
    assert decision.reason == ("DMARC reject: example.org fails (SPF fail for example.org, "
                               "no DKIM signature): refused")
    assert decision.refusal_text is not None and "example.org" in decision.refusal_text


def test_a_temporary_dns_failure_is_said_to_count_as_no_policy():
    decision = decide(Verdict("temperror", "example.com", reason="DNS timeout"))
    assert decision.reason.endswith("treated as no policy")


def test_a_quarantine_is_read_from_the_stage_outcomes():
    assert quarantined([Outcome("authentication", "quarantine")])
    assert not quarantined([Outcome("authentication", "fail"), Outcome("spam", "quarantine")])


def test_the_header_value_one_result_a_line():
    value = header_value("mail.example.net", [
        Result("spf", "pass", (("smtp.mailfrom", "a.b@example.com"),)),
        Result("dkim", "fail", (("header.d", "example.com"), ("header.s", "s1")),
               "body hash (mismatch)"),
        Result("dmarc", "fail", (("header.from", "example.com"),), "p=REJECT dis=REJECT"),
    ])
    assert value == ("mail.example.net;\n\tspf=pass smtp.mailfrom=a.b@example.com;\n\t"
                     "dkim=fail (body hash mismatch) header.d=example.com header.s=s1;\n\t"
                     "dmarc=fail (p=REJECT dis=REJECT) header.from=example.com")
    assert header_value("mail.example.net", []) == "mail.example.net; none"


def test_odd_values_are_quoted():
    result = Result("spf", "pass", (("smtp.mailfrom", 'we ird"@example.com'),))
    assert result.text() == 'spf=pass smtp.mailfrom="we ird\\"@example.com"'


@pytest.mark.parametrize("value, authserv_id", [
    ("mail.example.net; dkim=pass", "mail.example.net"),
    (" (forged) MAIL.Example.NET 1 ; spf=pass", "mail.example.net"),
    ("(a (nested) comment)mail.example.net;none", "mail.example.net"),
    ("mx.google.com; dkim=pass header.i=@mail.example.net", "mx.google.com"),
    ("mail.example.net", "mail.example.net"),
])
def test_the_authserv_id_of_a_header(value, authserv_id):
    assert authserv_id_of(value) == authserv_id


def test_dns_nameservers_in_the_config(tmp_path):
    config = tmp_path / "mailbasic.toml"
    config.write_text('[dns]\nnameservers = ["127.0.0.1:10053", "::1"]\n')
    assert load_settings(config, environ={}).dns_nameservers == ("127.0.0.1:10053",
                                                                 "[::1]:53")
    config.write_text('[dns]\nnameservers = ["resolver.example:53"]\n')
    with pytest.raises(ConfigError, match=r"dns\.nameservers"):
        load_settings(config, environ={})
    assert load_settings(None, environ={}).dns_nameservers == ()


def test_a_silent_resolver_costs_the_budget_at_most_and_refuses_nothing():
    """A real name server on loopback that never answers (a UDP socket nobody reads)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        checks = SenderChecks(make_resolver((f"127.0.0.1:{port}",)), budget=1.5)
        started = time.monotonic()
        report = checks.check(Envelope("192.0.2.7", "mx.sender.example", "a@sender.example"),
                              [("From", b"a@sender.example")], lambda: b"")
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 1.0, elapsed
    assert [result.result for result in report.results] == [
        "temperror", "temperror", "none", "temperror"]
    assert decide(report.dmarc).refusal_text is None
