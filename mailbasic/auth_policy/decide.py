"""The decision, pure: given what is known of a login attempt's client and account, allow
it, hold it for a few seconds, or refuse it; after a failure, which blocks begin.

Failures count against three subjects: the client's address, its IPv6 /64 (one
attacker's whole network) and the account. Past the free failures each further one
doubles the delay; at the block threshold the subject is refused until a time, never for
good. Failures against the ACCOUNT do not hold back a client whose network logged in to
that account before (a known client): an attacker elsewhere cannot lock the owner out.
Failures from a client hold back that client only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from mailbasic.config import Settings

CLIENT, NETWORK, ACCOUNT = "client", "network", "account"
SCOPES = (CLIENT, NETWORK, ACCOUNT)
IPV6_NETWORK_BITS = 64   # what one customer (or one attacker) gets from an IPv6 provider

# Dovecot's status: below 0 refuses, 0 allows, above 0 holds the login that many seconds.
REFUSE = -1
ALLOW = 0


@dataclass(frozen=True)
class Limits:
    free_failures: int
    max_delay_seconds: int
    client_block_failures: int
    account_block_failures: int
    block_minutes: int
    forget_hours: int
    known_client_days: int
    trusted_networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.auth_free_failures, settings.auth_max_delay_seconds,
                   settings.auth_client_block_failures, settings.auth_account_block_failures,
                   settings.auth_block_minutes, settings.auth_forget_hours,
                   settings.auth_known_client_days,
                   tuple(ip_network(network) for network in settings.auth_trusted_networks))

    def block_failures(self, scope: str) -> int:
        return self.account_block_failures if scope == ACCOUNT else self.client_block_failures


@dataclass(frozen=True)
class Subjects:
    """What one attempt counts against; None where nothing is counted (no address given,
    a trusted network, no /64 for IPv4)."""

    account: str | None
    client: str | None
    network: str | None
    # How the account remembers this client once it logged in: its address as a /32,
    # or its /64. None for a trusted client: a shared host is nobody's usual address.
    known_as: str | None

    def keys(self) -> list[tuple[str, str]]:
        """(scope, key) pairs, always in the same order (row locks taken in that order
        cannot deadlock)."""
        pairs = ((ACCOUNT, self.account), (CLIENT, self.client), (NETWORK, self.network))
        return [(scope, key) for scope, key in pairs if key]


def subjects_of(login: str, address: str, limits: Limits) -> Subjects:
    account = login.strip().lower() or None
    try:
        client = ip_address(address.strip())
    except ValueError:   # none given (a local doveadm auth test) or not an address
        return Subjects(account, None, None, None)
    if isinstance(client, IPv6Address) and client.ipv4_mapped:
        client = client.ipv4_mapped
    if any(client in network for network in limits.trusted_networks):
        return Subjects(account, None, None, None)
    if isinstance(client, IPv6Address):
        network = str(ip_network(f"{client}/{IPV6_NETWORK_BITS}", strict=False))
        return Subjects(account, str(client), network, network)
    return Subjects(account, str(client), None, f"{client}/32")


@dataclass(frozen=True)
class Count:
    scope: str
    key: str
    failures: int
    last_failure: datetime


@dataclass(frozen=True)
class Block:
    scope: str
    key: str
    until: datetime
    failures: int


@dataclass(frozen=True)
class Standing:
    """What the store knows of an attempt's subjects now: their recent failures, their
    active blocks, and whether the client is a known client of the account."""

    counts: tuple[Count, ...] = ()
    blocks: tuple[Block, ...] = ()
    known_client: bool = False

    def applies(self, scope: str) -> bool:
        return scope != ACCOUNT or not self.known_client


@dataclass(frozen=True)
class Verdict:
    status: int          # Dovecot's answer (REFUSE, ALLOW or seconds to hold)
    reason: str
    until: datetime | None = None   # refused until

    @property
    def name(self) -> str:
        return "refuse" if self.status < 0 else "delay" if self.status > 0 else "allow"


def delay_seconds(failures: int, limits: Limits) -> int:
    """0 for the free failures (typos), then 1, 2, 4, ... up to the maximum."""
    over = failures - limits.free_failures
    if over <= 0:
        return 0
    return min(limits.max_delay_seconds, 1 << min(over - 1, 16))


def judge(standing: Standing, limits: Limits, now: datetime, *, hold: bool = True) -> Verdict:
    """Dovecot holds a login for the delay (hold); the portal instead answers "wait" until
    the delay has passed since the last failure, so its threads are never held."""
    blocks = [block for block in standing.blocks if standing.applies(block.scope)]
    if blocks:
        block = max(blocks, key=lambda found: found.until)
        return Verdict(REFUSE, f"{block.scope} {block.key} blocked until "
                               f"{utc_text(block.until)} ({block.failures} failures)",
                       block.until)
    waits = [(_wait(count, limits, now, hold), count) for count in standing.counts
             if standing.applies(count.scope)]
    seconds, count = max(waits, key=lambda wait: wait[0], default=(0, None))
    if count is None or seconds <= 0:
        return Verdict(ALLOW, "-")
    return Verdict(seconds, f"{count.scope} {count.key} has {count.failures} failures")


def _wait(count: Count, limits: Limits, now: datetime, hold: bool) -> int:
    delay = delay_seconds(count.failures, limits)
    if hold or delay == 0:
        return delay
    return math.ceil(delay - (now - count.last_failure).total_seconds())


def blocks_due(counts: list[Count], active: list[Block], limits: Limits,
               now: datetime) -> list[Block]:
    """The blocks a failure begins: each counted subject at its threshold that is not
    blocked already. After a block ends the count is still there, so the next failure
    blocks again at once: one guess per block period, not a fresh allowance."""
    blocked = {(block.scope, block.key) for block in active}
    until = now + timedelta(minutes=limits.block_minutes)
    return [Block(count.scope, count.key, until, count.failures) for count in counts
            if count.failures >= limits.block_failures(count.scope)
            and (count.scope, count.key) not in blocked]


def refusal_text(verdict: Verdict) -> str:
    """What the client is told; never which subject is blocked."""
    if verdict.until is None:
        return ""
    return f"Too many failed logins: try again after {verdict.until.astimezone(UTC):%H:%M} UTC."


def utc_text(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def subjects_named(text: str) -> list[tuple[str, str]]:
    """What an operator's KEY names: an address (with its /64 for IPv6), a network, or
    else an account (a mailbox login, or a customer name for the portal)."""
    text = text.strip()
    try:
        address = ip_address(text)
    except ValueError:
        pass
    else:
        if isinstance(address, IPv6Address):
            return [(CLIENT, str(address)), (NETWORK, str(ip_network(
                f"{address}/{IPV6_NETWORK_BITS}", strict=False)))]
        return [(CLIENT, str(address))]
    if "/" in text:
        try:
            return [(NETWORK, str(ip_network(text, strict=False)))]
        except ValueError:
            pass
    return [(ACCOUNT, text.lower())]
