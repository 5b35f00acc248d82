"""SpamAssassin, the other spam engine (spam.engine = "spamassassin"), end to end through
the stack's real Postfix: the same flow as test_rspamd_flow.py's, with the stack's milter
restarted for this module on a configuration of its own that chooses spamd, and put back
on the stack's own (rspamd, the default) afterwards."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailbasic.config import render_settings
from tests.conftest import Cli
from tests.e2e.test_rspamd_flow import (
    arrives,
    filed_by_threshold,
    gtube_per_spam_action,
    ham,
    mailboxes,
    send,
    status_tests,
    tempfailed_while_down,
    unique,
)

DOMAIN = "spamassassin-flow.example"
TAGGED, FILED, DELETED, STRICT, LENIENT = (
    f"{name}.saflow@{DOMAIN}" for name in ("tag", "file", "delete", "strict", "lenient"))
# Around what spamd (Debian's rules, no network tests) scores the plain message of
# filed_by_threshold: 0.0 (NO_RECEIVED, NO_RELAYS: the milter sees no Received: header).
THRESHOLDS = (-1.0, 1.0)


@pytest.fixture(scope="module")
def spamassassin(postfix, spamd, tmp_path_factory):
    """The stack's milter, restarted with spam.engine = "spamassassin" (its other settings
    the stack's), and restarted on the stack's own configuration after the module."""
    milter = postfix.milter
    stack_config = milter.config
    config = tmp_path_factory.mktemp("milter") / "milter.toml"
    config.write_text(render_settings(replace(postfix.daemon_settings,
                                              spam_engine="spamassassin")))
    config.chmod(0o600)
    milter.stop()
    milter.config = config
    try:
        milter.launch()
        milter.wait_ready()
        yield postfix
    finally:
        milter.stop()
        milter.config = stack_config
        milter.launch()
        milter.wait_ready()


@pytest.fixture(scope="module")
def cli(spamassassin, tmp_path_factory) -> Cli:
    return mailboxes(spamassassin, tmp_path_factory, TAGGED, FILED, DELETED, STRICT, LENIENT,
                     THRESHOLDS)


def test_gtube_is_tagged_filed_or_deleted_per_mailbox_with_spamds_headers(
        spamassassin, cli, tls_context):
    tagged, entry = gtube_per_spam_action(spamassassin, cli, tls_context, TAGGED, FILED,
                                          DELETED)
    # SpamAssassin's GTUBE rule scores 1000, and the level's stars stop at 50.
    score = float(tagged["X-Spam-Score"])
    assert score >= 1000 and tagged["X-Spam-Level"] == "*" * 50
    assert str(tagged["X-Spam-Status"]).startswith(f"Yes, score={score:.1f} required=5.0 ")
    assert "GTUBE" in status_tests(tagged)
    assert entry["verdicts"]["spam"]["reason"] == f"score {score:.1f}/5.0"


def test_ham_arrives_with_spamassassins_test_names(spamassassin, cli, tls_context):
    subject = unique("lunch")
    send(spamassassin, ham(subject, TAGGED), TAGGED)
    arrived = arrives(spamassassin, tls_context, TAGGED, subject)
    assert arrived["X-Spam-Flag"] is None
    score = float(arrived["X-Spam-Score"])
    assert score < 1.0, arrived["X-Spam-Status"]
    assert str(arrived["X-Spam-Status"]).startswith(f"No, score={score:.1f} required=5.0 ")
    # SpamAssassin's own test names (rspamd's for the same: RCVD_COUNT_ZERO, ...).
    assert "NO_RELAYS" in status_tests(arrived), arrived["X-Spam-Status"]


def test_each_mailbox_files_spam_from_its_own_threshold(spamassassin, cli, tls_context):
    copy = filed_by_threshold(spamassassin, tls_context, STRICT, LENIENT, THRESHOLDS)
    assert "NO_RELAYS" in status_tests(copy), copy["X-Spam-Status"]


def test_spamd_down_is_451_at_end_of_data_and_the_retry_arrives(spamassassin, cli,
                                                                  tls_context):
    tempfailed_while_down(spamassassin, cli, tls_context, spamassassin.spamd, TAGGED)
