"""rspamd's /checkv2 answer mapped onto spamd's SpamReport, the request headers, and the
engine choice; the real rspamd is in tests/integration/test_rspamd_engine.py."""

import json

import pytest

from mailbasic.config import Settings, load_settings, render_settings
from mailbasic.errors import ConfigError
from mailbasic.milter.stages.spam import spam_headers
from mailbasic.scanners.engines import RspamdEngine, SpamdEngine, spam_engine
from mailbasic.scanners.rspamd import (
    REQUIRED_SCORE,
    Envelope,
    RspamdResult,
    parse_answer,
    to_report,
)
from mailbasic.scanners.spamd import SpamdError, SpamReport

# As rspamd 3.4 answers (abridged): GTUBE skips every other rule.
GTUBE_ANSWER = {"is_skipped": True, "score": 15.0, "required_score": 15.0,
                "action": "reject", "symbols": {"GTUBE": {"name": "GTUBE", "score": 0.0}},
                "messages": {"smtp_message": "Gtube pattern"}, "message-id": "undef"}
HAM_ANSWER = {"is_skipped": False, "score": -0.2, "required_score": 15.0,
              "action": "no action",
              "symbols": {"R_SPF_ALLOW": {"name": "R_SPF_ALLOW", "score": -0.2},
                          "MIME_GOOD": {"name": "MIME_GOOD", "score": -0.1},
                          "ARC_NA": {"name": "ARC_NA", "score": 0.0}}}


def answer(data: object) -> bytes:
    return json.dumps(data).encode()


def test_gtube_maps_to_spam_with_rspamds_score():
    result = parse_answer(answer(GTUBE_ANSWER))
    assert result == RspamdResult(15.0, 15.0, "reject", ("GTUBE",))
    assert to_report(result) == SpamReport(True, 15.0, REQUIRED_SCORE, ("GTUBE",))


def test_symbols_become_sorted_test_names_and_the_score_decides_not_the_action():
    report = to_report(parse_answer(answer(HAM_ANSWER)))
    assert report == SpamReport(False, -0.2, 5.0, ("ARC_NA", "MIME_GOOD", "R_SPF_ALLOW"))
    # "no action" from rspamd, but above the required score: spam for our headers.
    tagged = to_report(parse_answer(answer({**HAM_ANSWER, "score": 6.5})))
    assert tagged.is_spam and tagged.score == 6.5
    assert to_report(parse_answer(answer({**HAM_ANSWER, "score": 5.0}))).is_spam


def test_the_headers_are_spamds():
    report = to_report(parse_answer(answer(GTUBE_ANSWER)))
    headers = {header.name: header.value for header in spam_headers(report)}
    assert headers == {"X-Spam-Flag": "YES", "X-Spam-Score": "15.0",
                       "X-Spam-Level": "*" * 15,
                       "X-Spam-Status": "Yes, score=15.0 required=5.0 tests=GTUBE"}


def test_a_long_test_list_is_folded_between_names_never_inside_one():
    """rspamd names a dozen symbols for plain mail: the folded X-Spam-Status, unfolded as
    RFC 5322 says (the line breaks go, the tab stays), still lists each name whole."""
    names = ("ARC_NA", "DMARC_NA", "FROM_EQ_ENVFROM", "FROM_HAS_DN", "MIME_GOOD",
             "MIME_TRACE", "RCPT_COUNT_ONE", "RCVD_COUNT_ONE", "RCVD_TLS_ALL", "R_DKIM_NA",
             "R_SPF_NA", "TO_DN_NONE", "TO_MATCH_ENVRCPT_ALL", "X" * 90)
    [status] = [header.value for header in spam_headers(SpamReport(False, -0.1, 5.0, names))
                if header.name == "X-Spam-Status"]
    lines = status.split("\n\t")
    assert len(lines) > 2 and all(len(line) <= 70 for line in lines if "X" * 90 not in line)
    unfolded = status.replace("\n", "")
    assert unfolded.startswith("No, score=-0.1 required=5.0")
    listed = unfolded.rpartition("tests=")[2].split(",")
    assert [name.strip() for name in listed] == list(names)
    assert all(name.strip() == name or name.startswith("\t") for name in listed)


def test_an_answer_without_symbols_has_no_tests():
    report = to_report(parse_answer(answer({"score": 0, "required_score": 15,
                                            "action": "no action"})))
    assert report == SpamReport(False, 0.0, 5.0, ())


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"<html>502 Bad Gateway</html>", b"\xff\xfe\x00", b"[]", b"null",
    answer({"error": "cannot parse message"}),
    answer({"score": "15", "required_score": 15, "action": "reject"}),
    answer({"score": True, "required_score": 15, "action": "reject"}),
    answer({"required_score": 15, "action": "reject"}),
    answer({"score": 1, "required_score": 15}),
    answer({"score": 1, "required_score": 15, "action": "no action", "symbols": []}),
    answer({"score": 1, "required_score": 15, "action": "no action",
            "symbols": {"BAD,NAME": {}}}),
    b'{"score": NaN, "required_score": 15, "action": "no action"}',
    b'{"score": Infinity, "required_score": 15, "action": "no action"}',
])
def test_garbage_is_spamds_error(raw):
    with pytest.raises(SpamdError):
        parse_answer(raw)


def test_envelope_headers():
    envelope = Envelope("a@outside.example", ("b@example.net", "c@example.net"),
                        "192.0.2.25", "mail.outside.example", "", "alice@example.net",
                        "4XYZ", "b@example.net")
    assert list(envelope.headers()) == [
        ("From", "a@outside.example"), ("Rcpt", "b@example.net"), ("Rcpt", "c@example.net"),
        ("IP", "192.0.2.25"), ("Helo", "mail.outside.example"), ("Hostname", "unknown"),
        ("User", "alice@example.net"), ("Queue-Id", "4XYZ"), ("Deliver-To", "b@example.net")]


def test_envelope_leaves_out_what_is_not_there():
    headers = dict(Envelope("", ("b@example.net",), "unknown").headers())
    assert headers == {"From": "", "Rcpt": "b@example.net", "Hostname": "unknown"}
    assert dict(Envelope("", (), "IPv6:2001:db8::1").headers())["IP"] == "2001:db8::1"


def test_the_engine_is_chosen_by_config(tmp_path):
    assert isinstance(spam_engine(Settings()), RspamdEngine)   # the default
    assert isinstance(spam_engine(Settings(spam_engine="spamassassin")), SpamdEngine)
    assert load_settings(None, environ={}).spam_engine == "rspamd"
    path = tmp_path / "mailbasic.toml"
    path.write_text('[spam]\nengine = "rspamd"\n[rspamd]\nhost = "127.0.0.2"\nport = 11333\n'
                    "timeout = 5\n")
    settings = load_settings(path, environ={})
    assert (settings.spam_engine, settings.rspamd_host, settings.rspamd_port,
            settings.rspamd_timeout) == ("rspamd", "127.0.0.2", 11333, 5.0)
    path.write_text(render_settings(settings))
    assert load_settings(path, environ={}) == settings
    path.write_text('[spam]\nengine = "spamassassin"\n')
    assert isinstance(spam_engine(load_settings(path, environ={})), SpamdEngine)
    path.write_text('[spam]\nengine = "bogofilter"\n')
    with pytest.raises(ConfigError, match=r"spam\.engine"):
        load_settings(path, environ={})
