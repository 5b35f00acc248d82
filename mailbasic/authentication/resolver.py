"""The resolver every sender check asks: the configured name servers (dns.nameservers),
else the system's, with a time budget for each message.

A name server that does not answer costs at most LOOKUP_SECONDS a question, and all the
questions about one message together at most BUDGET_SECONDS: past it every further
question is a temporary error at once, so a dead resolver delays a transaction by a
bounded time, far below Postfix's milter_content_timeout, and never refuses mail (a
temporary error decides nothing, see decide.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
import spf

LOOKUP_SECONDS = 3.0
BUDGET_SECONDS = 20.0
CACHE_ENTRIES = 10_000


class DnsTempError(Exception):
    """No answer in time, or a server failure: the question may succeed later."""


def make_resolver(nameservers: tuple[str, ...]) -> dns.resolver.Resolver:
    """dnspython's resolver on NAMESERVERS ("IP:PORT", "[IPv6]:PORT"), else the system's."""
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(
            host.strip("[]"), int(port)) for host, _, port in
            (server.rpartition(":") for server in nameservers)]
    resolver.timeout = LOOKUP_SECONDS
    resolver.cache = dns.resolver.LRUCache(CACHE_ENTRIES)
    return resolver


class Lookups:
    """The questions about one message, within one budget."""

    def __init__(self, resolver: dns.resolver.Resolver, budget: float = BUDGET_SECONDS) -> None:
        self.resolver = resolver
        self.deadline = time.monotonic() + budget

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def answer(self, name: str, qtype: str) -> list[Any]:
        """The records (empty for NXDOMAIN or no data); DnsTempError otherwise."""
        lifetime = min(self.remaining(), LOOKUP_SECONDS)
        if lifetime <= 0:
            raise DnsTempError(f"DNS time budget spent before {name} {qtype}")
        try:
            return list(self.resolver.resolve(name, qtype, lifetime=lifetime, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers,
                dns.resolver.LifetimeTimeout) as error:
            raise DnsTempError(f"DNS {name} {qtype}: {error}") from None
        except dns.exception.DNSException as error:  # a name that cannot be asked
            raise DnsTempError(f"DNS {name} {qtype}: {error}") from None

    def txt(self, name: str) -> list[bytes]:
        """Each TXT record's strings joined, as SPF, DKIM and DMARC read them."""
        return [b"".join(record.strings) for record in self.answer(name, "TXT")]

    def dkim_key(self, name: bytes, timeout: float = LOOKUP_SECONDS) -> bytes | None:
        """dkimpy's dnsfunc: the first TXT record of a key's name."""
        records = self.txt(name.decode("ascii", "replace"))
        return records[0] if records else None


# pyspf asks DNS through its module's DNSLookup function; ours answers from the Lookups of
# the message being checked in this thread (see spf_lookups), so that SPF asks the
# configured resolver within the message's budget, and never through
# dns.resolver.query (deprecated in dnspython 2, a DeprecationWarning on every call).
_current = threading.local()


@contextmanager
def spf_lookups(lookups: Lookups) -> Iterator[None]:
    _current.lookups = lookups
    try:
        yield
    finally:
        _current.lookups = None


def _pyspf_lookup(name: str, qtype: str, strict: bool = True,
                  timeout: float = LOOKUP_SECONDS) -> list[tuple[tuple[str, str], Any]]:
    lookups: Lookups | None = getattr(_current, "lookups", None)
    if lookups is None:
        raise spf.TempError("DNS: no resolver for SPF outside a sender check")
    try:
        records = lookups.answer(name, qtype)
    except DnsTempError as error:
        raise spf.TempError(str(error)) from None
    answers: list[tuple[tuple[str, str], Any]] = []
    for record in records:
        if qtype in ("A", "AAAA"):
            answers.append(((name, qtype), record.address))
        elif qtype == "MX":
            answers.append(((name, qtype), (record.preference, record.exchange)))
        elif qtype == "PTR":
            answers.append(((name, qtype), record.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            answers.append(((name, qtype), record.strings))
    return answers


spf.DNSLookup = _pyspf_lookup
