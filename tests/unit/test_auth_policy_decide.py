"""The brute-force defence's decision, pure: thresholds, growing delays, IPv6 /64 grouping,
the known-client exemption, blocks that begin once and end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest

from mailbasic.auth_policy.decide import (
    ACCOUNT,
    ALLOW,
    CLIENT,
    NETWORK,
    REFUSE,
    Block,
    Count,
    Limits,
    Standing,
    blocks_due,
    delay_seconds,
    judge,
    refusal_text,
    subjects_named,
    subjects_of,
)
from mailbasic.config import Settings

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LIMITS = Limits(free_failures=3, max_delay_seconds=15, client_block_failures=10,
                account_block_failures=30, block_minutes=15, forget_hours=24,
                known_client_days=90)


def count(scope: str, key: str, failures: int, ago: float = 0) -> Count:
    return Count(scope, key, failures, NOW - timedelta(seconds=ago))


def test_the_delay_grows_after_the_free_failures_up_to_the_maximum():
    assert [delay_seconds(failures, LIMITS) for failures in range(10)] == [
        0, 0, 0, 0, 1, 2, 4, 8, 15, 15]
    assert delay_seconds(10_000, LIMITS) == 15          # no overflow on long attacks


def test_limits_come_from_the_settings():
    limits = Limits.of(Settings(auth_free_failures=5, auth_trusted_networks=("10.0.0.0/8",)))
    assert limits.free_failures == 5 and limits.block_failures(CLIENT) == 10
    assert limits.block_failures(NETWORK) == 10 and limits.block_failures(ACCOUNT) == 30
    assert subjects_of("x@example.net", "10.1.2.3", limits).client is None


def test_an_ipv4_client_is_its_address_and_known_as_its_slash_32():
    subjects = subjects_of("Alice@Example.NET ", "192.0.2.7", LIMITS)
    assert (subjects.account, subjects.client, subjects.network, subjects.known_as) == (
        "alice@example.net", "192.0.2.7", None, "192.0.2.7/32")
    assert subjects.keys() == [(ACCOUNT, "alice@example.net"), (CLIENT, "192.0.2.7")]


def test_an_ipv6_client_counts_its_slash_64_too():
    one = subjects_of("alice@example.net", "2001:db8:1:2:aaaa::1", LIMITS)
    other = subjects_of("alice@example.net", "2001:DB8:1:2:bbbb::9", LIMITS)
    assert one.network == other.network == one.known_as == "2001:db8:1:2::/64"
    assert one.client == "2001:db8:1:2:aaaa::1" and other.client == "2001:db8:1:2:bbbb::9"
    assert one.keys()[-1] == (NETWORK, "2001:db8:1:2::/64")
    assert subjects_of("a@b.example", "2001:db8:1:3::1", LIMITS).network == "2001:db8:1:3::/64"


def test_a_v4_mapped_address_is_the_v4_client():
    assert subjects_of("a@b.example", "::ffff:192.0.2.7", LIMITS).client == "192.0.2.7"


def test_no_address_or_a_trusted_one_counts_the_account_only():
    trusting = replace(LIMITS, trusted_networks=(ip_network("198.51.100.0/24"),))
    for address, limits in (("", LIMITS), ("garbage", LIMITS), ("198.51.100.9", trusting)):
        subjects = subjects_of("alice@example.net", address, limits)
        assert subjects.keys() == [(ACCOUNT, "alice@example.net")], address
        assert subjects.known_as is None    # never anybody's usual address
    assert subjects_of("", "", LIMITS).keys() == []


def test_nothing_known_is_allowed():
    verdict = judge(Standing(), LIMITS, NOW)
    assert (verdict.status, verdict.name) == (ALLOW, "allow")


def test_the_longest_delay_of_the_subjects_holds_the_login():
    standing = Standing((count(ACCOUNT, "alice@example.net", 5),
                         count(CLIENT, "192.0.2.7", 7), count(NETWORK, "2001:db8::/64", 2)))
    verdict = judge(standing, LIMITS, NOW)
    assert (verdict.status, verdict.name) == (8, "delay")
    assert verdict.reason == "client 192.0.2.7 has 7 failures"


def test_the_account_s_failures_do_not_hold_back_a_known_client():
    attacked = (count(ACCOUNT, "alice@example.net", 29),)
    assert judge(Standing(attacked), LIMITS, NOW).status == 15
    assert judge(Standing(attacked, known_client=True), LIMITS, NOW).status == ALLOW


def test_an_account_block_refuses_unknown_clients_only():
    block = Block(ACCOUNT, "alice@example.net", NOW + timedelta(minutes=15), 30)
    stranger = judge(Standing(blocks=(block,)), LIMITS, NOW)
    assert stranger.status == REFUSE and stranger.until == block.until
    assert stranger.reason == ("account alice@example.net blocked until "
                               "2026-12-01T10:15:00Z (30 failures)")
    assert judge(Standing(blocks=(block,), known_client=True), LIMITS, NOW).status == ALLOW


def test_a_client_block_refuses_even_a_known_client():
    block = Block(CLIENT, "192.0.2.7", NOW + timedelta(minutes=15), 10)
    verdict = judge(Standing(blocks=(block,), known_client=True), LIMITS, NOW)
    assert verdict.status == REFUSE
    assert refusal_text(verdict) == "Too many failed logins: try again after 10:15 UTC."


def test_the_portal_waits_out_the_delay_since_the_last_failure():
    standing = Standing((count(CLIENT, "192.0.2.7", 6, ago=1.5),))     # delay 4 s
    assert judge(standing, LIMITS, NOW, hold=False).status == 3
    later = NOW + timedelta(seconds=3)
    assert judge(standing, LIMITS, later, hold=False).status == ALLOW
    assert judge(standing, LIMITS, later).status == 4          # Dovecot holds every try


def test_a_block_begins_at_each_scope_s_threshold():
    counts = [count(ACCOUNT, "alice@example.net", 29), count(CLIENT, "192.0.2.7", 10),
              count(NETWORK, "2001:db8::/64", 9)]
    [block] = blocks_due(counts, [], LIMITS, NOW)
    assert (block.scope, block.key, block.failures) == (CLIENT, "192.0.2.7", 10)
    assert block.until == NOW + timedelta(minutes=15)
    counts[0] = count(ACCOUNT, "alice@example.net", 30)
    assert [block.scope for block in blocks_due(counts, [], LIMITS, NOW)] == [ACCOUNT, CLIENT]


def test_a_block_in_force_is_not_begun_again_one_that_ended_is():
    counts = [count(CLIENT, "192.0.2.7", 12)]
    active = [Block(CLIENT, "192.0.2.7", NOW + timedelta(minutes=5), 10)]
    assert blocks_due(counts, active, LIMITS, NOW) == []
    # The store lists only blocks in force: once it ended, the next failure blocks again.
    assert len(blocks_due(counts, [], LIMITS, NOW + timedelta(minutes=6))) == 1


@pytest.mark.parametrize(("text", "named"), [
    ("192.0.2.7", [(CLIENT, "192.0.2.7")]),
    ("2001:db8:1:2::7", [(CLIENT, "2001:db8:1:2::7"), (NETWORK, "2001:db8:1:2::/64")]),
    ("2001:db8:1:2::/64", [(NETWORK, "2001:db8:1:2::/64")]),
    ("2001:db8:1:2:3::/64", [(NETWORK, "2001:db8:1:2::/64")]),
    ("Alice@Example.net", [(ACCOUNT, "alice@example.net")]),
    ("alice", [(ACCOUNT, "alice")]),
])
def test_an_operator_names_an_address_a_network_or_an_account(text, named):
    assert subjects_named(text) == named
