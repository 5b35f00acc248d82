"""The checks of one message from outside: SPF for MAIL FROM and for the HELO name
(pyspf), every DKIM signature (dkimpy), the ARC chain when there is one (dkimpy), and
DMARC for the From: domain (dmarc.py), all asking one resolver within one budget."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses

import dkim
import dkim.util
import dns.resolver
import spf

from mailbasic.authentication import dmarc
from mailbasic.authentication.resolver import BUDGET_SECONDS, DnsTempError, Lookups, spf_lookups
from mailbasic.authentication.results import Result

# What dkimpy raises, beyond its own exceptions, on a hostile or broken signature or
# message: a result (permerror), never a tempfail that would hold the mail for good.
MALFORMED = (dkim.DKIMException, ValueError, TypeError, IndexError, KeyError)


@dataclass(frozen=True)
class Envelope:
    client_address: str
    helo: str
    sender: str                 # bare, "" for the null sender


@dataclass(frozen=True)
class Report:
    results: tuple[Result, ...]  # in the header's order
    dmarc: dmarc.Verdict


@dataclass(frozen=True)
class SpfOutcome:
    result: str
    domain: str                 # the identity's domain
    explanation: str


class SenderChecks:
    def __init__(self, resolver: dns.resolver.Resolver, budget: float = BUDGET_SECONDS) -> None:
        self.resolver, self.budget = resolver, budget

    def check(self, envelope: Envelope, headers: list[tuple[str, bytes]],
              raw: Callable[[], bytes]) -> Report:
        """RAW: the whole message with CRLF line ends, read only when it is signed."""
        lookups = Lookups(self.resolver, self.budget)
        results: list[Result] = []
        spf_domain = None
        if envelope.sender:
            mail_from = check_spf(lookups, envelope.client_address, envelope.sender,
                                  envelope.helo)
            results.append(Result("spf", mail_from.result, (("smtp.mailfrom",
                                                              envelope.sender),),
                                  mail_from.explanation))
            spf_domain = mail_from.domain if mail_from.result == "pass" else None
        if _is_domain_name(envelope.helo):
            helo = check_spf(lookups, envelope.client_address,
                             f"postmaster@{envelope.helo}", envelope.helo)
            results.append(Result("spf", helo.result, (("smtp.helo", envelope.helo),),
                                  helo.explanation))
            if not envelope.sender and helo.result == "pass":
                spf_domain = helo.domain   # the null sender: DMARC uses the HELO name
        names = {name.lower() for name, _ in headers}
        message = raw() if names & {"dkim-signature", "arc-seal"} else b""
        signatures = check_dkim(lookups, message) if "dkim-signature" in names else []
        results += signatures or [Result("dkim", "none")]
        if "arc-seal" in names:
            results.append(check_arc(lookups, message))
        passed = tuple(dict(result.properties)["header.d"] for result in signatures
                       if result.result == "pass")
        verdict = check_dmarc(lookups, from_domains(headers),
                              dmarc.Identifiers(spf_domain, passed))
        results.append(Result("dmarc", verdict.result, (("header.from", verdict.domain),)
                              if verdict.domain else (),
                              f"p={verdict.policy.upper()} dis={verdict.disposition.upper()}"
                              if verdict.result in ("pass", "fail") else verdict.reason))
        return Report(tuple(results), verdict)


def check_spf(lookups: Lookups, client_address: str, sender: str, helo: str) -> SpfOutcome:
    domain = sender.rpartition("@")[2].lower()
    try:
        ipaddress.ip_address(client_address)
    except ValueError:
        return SpfOutcome("none", domain, f"no client IP address: {client_address}")
    with spf_lookups(lookups):
        query = spf.query(i=client_address, s=sender, h=helo,
                          querytime=max(lookups.remaining(), 0.001))
        result, _, explanation = query.check()
    return SpfOutcome(str(result).lower(), domain, str(explanation))


def check_dkim(lookups: Lookups, message: bytes) -> list[Result]:
    """One result for every DKIM-Signature, topmost first."""
    try:
        verifier = dkim.DKIM(message, timeout=lookups.remaining())
    except MALFORMED as error:
        return [Result("dkim", "permerror", comment=f"message not readable: {error}")]
    signatures = [value for name, value in verifier.headers
                  if name.lower() == b"dkim-signature"]
    results = []
    for index, value in enumerate(signatures):
        tags = _tags(value)
        properties = (("header.d", tags.get(b"d", b"").decode("ascii", "replace").lower()),
                      ("header.s", tags.get(b"s", b"").decode("ascii", "replace")))
        missing: list[bytes] = []

        def key(name: bytes, timeout: float = 5, missing: list[bytes] = missing) -> bytes | None:
            found = lookups.dkim_key(name, timeout)
            if found is None:
                missing.append(name)
            return found
        try:
            verified = verifier.verify(idx=index, dnsfunc=key)
        except DnsTempError as error:
            results.append(Result("dkim", "temperror", properties, str(error)))
            continue
        except MALFORMED as error:
            results.append(Result("dkim", "permerror", properties, str(error)))
            continue
        if missing:
            results.append(Result("dkim", "permerror", properties, "no key in DNS"))
        else:
            results.append(Result("dkim", "pass" if verified else "fail", properties))
    return results


def check_arc(lookups: Lookups, message: bytes) -> Result:
    """The ARC chain's validation (RFC 8617 5.2): pass, fail or none."""
    try:
        chain, _, reason = dkim.arc_verify(message, dnsfunc=lookups.dkim_key)
    except DnsTempError as error:
        return Result("arc", "temperror", comment=str(error))
    except MALFORMED as error:
        return Result("arc", "fail", comment=str(error))
    return Result("arc", chain.decode("ascii"), comment="" if chain == dkim.CV_Pass
                  else str(reason))


def check_dmarc(lookups: Lookups, domains: list[str],
                identifiers: dmarc.Identifiers) -> dmarc.Verdict:
    if not domains:
        return dmarc.Verdict("none", "", reason="no From: address")
    return dmarc.strictest(dmarc.evaluate(domain, identifiers, lookups.txt, DnsTempError)
                           for domain in domains)


def from_domains(headers: list[tuple[str, bytes]]) -> list[str]:
    """The domains of all From: addresses (RFC 7489 6.6.1: several are each checked)."""
    values = [value.decode("utf-8", "replace") for name, value in headers
              if name.lower() == "from"]
    domains = [address.rpartition("@")[2].strip().lower().rstrip(".")
               for _, address in getaddresses(values) if "@" in address]
    return list(dict.fromkeys(domain for domain in domains if domain))


def _tags(value: bytes) -> dict[bytes, bytes]:
    try:
        return dict(dkim.util.parse_tag_value(value))
    except dkim.util.InvalidTagValueList:
        return {}


def _is_domain_name(name: str) -> bool:
    return "." in name and not name.startswith("[") and all(
        label and len(label) < 64 for label in name.rstrip(".").split("."))
