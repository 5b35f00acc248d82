"""DMARC (RFC 7489): the From: domain's policy and whether SPF or DKIM align with it.

Policy discovery (6.6.3): the TXT records at _dmarc.FROM-DOMAIN, else at _dmarc of its
organizational domain (the public suffix list shipped in the publicsuffixlist package,
never fetched at run time), whose sp= (else p=) then applies. Alignment (3.1): relaxed
when the organizational domains are equal, strict when the names are. A temporary DNS
failure is `temperror`, which decide.py treats as no policy.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

POLICIES = ("none", "quarantine", "reject")
_SUFFIXES = PublicSuffixList()  # the package's own copy of the list


@dataclass(frozen=True)
class Record:
    policy: str                 # p=
    subdomain_policy: str       # sp=, else p=
    dkim_mode: str = "r"        # adkim= r | s
    spf_mode: str = "r"         # aspf=
    percent: int = 100          # pct=


@dataclass(frozen=True)
class Identifiers:
    """What SPF and DKIM verified: the domain SPF passed for (MAIL FROM's, or the HELO
    name's for the null sender) and the d= of each DKIM signature that passed."""

    spf_domain: str | None
    dkim_domains: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    result: str                 # pass | fail | none | temperror | permerror
    domain: str                 # the From: domain
    policy: str = "none"        # the policy that applies to it (p= or sp=)
    disposition: str = "none"   # what the policy asks for this message, after pct=
    reason: str = ""

    def __str__(self) -> str:
        return f"dmarc={self.result} p={self.policy} dis={self.disposition} " \
               f"header.from={self.domain}" + (f" ({self.reason})" if self.reason else "")


def parse_record(text: str) -> Record | None:
    """A DMARC record's tags, or None when TEXT is not one (RFC 7489 6.3, 6.6.3)."""
    parts = text.split(";")
    version, _, value = parts[0].partition("=")
    if version.strip() != "v" or value.strip() != "DMARC1":   # v=DMARC1 first, exactly
        return None
    tags: dict[str, str] = {}
    for part in parts[1:]:
        name, equals, value = part.partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), value.strip())
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        # A record without a valid p= but with a report address counts as p=none (6.6.3).
        if "rua" not in tags:
            return None
        policy = "none"
    subdomain = tags.get("sp", "").lower()
    try:
        percent = min(max(int(tags.get("pct", "100")), 0), 100)
    except ValueError:
        percent = 100
    return Record(policy, subdomain if subdomain in POLICIES else policy,
                  "s" if tags.get("adkim", "").lower() == "s" else "r",
                  "s" if tags.get("aspf", "").lower() == "s" else "r", percent)


def organizational_domain(domain: str) -> str:
    """The registered domain: one label below its public suffix (an unknown top-level
    domain counts as a public suffix of one label)."""
    domain = domain.lower().rstrip(".")
    return _SUFFIXES.privatesuffix(domain) or domain


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    identifier, from_domain = identifier.lower().rstrip("."), from_domain.lower().rstrip(".")
    if mode == "s":
        return identifier == from_domain
    return organizational_domain(identifier) == organizational_domain(from_domain)


def discover(from_domain: str,
             txt: Callable[[str], list[bytes]]) -> tuple[Record, bool] | None:
    """The record that applies and whether it is the organizational domain's; None when
    there is none. TXT raises on a temporary failure."""
    for domain in dict.fromkeys((from_domain, organizational_domain(from_domain))):
        records = [record for record in (
            parse_record(text.decode("utf-8", "replace")) for text in txt(f"_dmarc.{domain}"))
            if record is not None]
        if len(records) == 1:
            return records[0], domain != from_domain
        if len(records) > 1:   # several records: as if none (6.6.3)
            return None
    return None


def evaluate(from_domain: str, identifiers: Identifiers,
             txt: Callable[[str], list[bytes]], temporary: type[Exception],
             sample: Callable[[], float] = random.random) -> Verdict:
    """TEMPORARY: the exception TXT raises when DNS fails for now."""
    try:
        found = discover(from_domain, txt)
    except temporary as error:
        return Verdict("temperror", from_domain, reason=str(error))
    if found is None:
        return Verdict("none", from_domain, reason="no DMARC record")
    return judge(from_domain, *found, identifiers, sample)


def judge(from_domain: str, record: Record, inherited: bool, identifiers: Identifiers,
          sample: Callable[[], float] = random.random) -> Verdict:
    """The verdict under RECORD (the organizational domain's when INHERITED)."""
    policy = record.subdomain_policy if inherited else record.policy
    passing = _aligned_identifier(from_domain, record, identifiers)
    if passing:
        return Verdict("pass", from_domain, policy, "none", passing)
    disposition = policy
    if record.percent < 100 and sample() * 100 >= record.percent:
        # Outside the sample: the next weaker policy (6.6.4).
        disposition = POLICIES[max(POLICIES.index(policy) - 1, 0)]
    return Verdict("fail", from_domain, policy, disposition,
                   "neither SPF nor DKIM aligned with the From: domain")


def _aligned_identifier(from_domain: str, record: Record, identifiers: Identifiers) -> str:
    for domain in identifiers.dkim_domains:
        if aligned(domain, from_domain, record.dkim_mode):
            return f"DKIM d={domain} aligned"
    if identifiers.spf_domain and aligned(identifiers.spf_domain, from_domain,
                                          record.spf_mode):
        return f"SPF {identifiers.spf_domain} aligned"
    return ""


def strictest(verdicts: Iterable[Verdict]) -> Verdict:
    """Of several From: domains' verdicts (RFC 7489 6.6.1), the one asking the most."""
    return max(verdicts, key=lambda verdict: (POLICIES.index(verdict.disposition),
                                              verdict.result == "fail"))
