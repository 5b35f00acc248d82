"""dkimpy's dnsfunc for the tests: TXT questions to the stack's own DNS server
(dnsmasq), asked with dnspython; a name that does not exist is no record (None)."""

from __future__ import annotations

from collections.abc import Callable

from dns import resolver as dns_resolver

from mailbasic.devstack.layout import HOST


def lookup(stack) -> Callable[..., bytes | None]:
    resolver = dns_resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [HOST], stack.dns.port

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode("ascii"), "TXT", lifetime=timeout)
        except dns_resolver.NXDOMAIN:
            return None
        return b"".join(b"".join(record.strings) for record in answer)
    return txt
