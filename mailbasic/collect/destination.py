"""Where POP3 collection may connect: public addresses on POP3 ports. The customer names
the host, so without this rule the job would connect, from inside the provider's network,
to whatever the name points at: the database, the local SMTP port, an admin interface.

A name is refused when ANY of its addresses is, and it is checked again at every
connection (DNS answers change); the session then connects to the checked address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from mailbasic.config import Settings
from mailbasic.errors import N_, InvalidInput, NotAllowed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[Address]]


class Unresolvable(InvalidInput):
    """The host name has no address (now)."""


class AddressRefused(NotAllowed):
    """The host is, or resolves to, an address collection must not connect to."""

    def __init__(self, text: str, kind: str, **values: object) -> None:
        super().__init__(text, **values)
        self.kind = kind


class PortRefused(NotAllowed):
    """Not a POP3 port."""


def resolve(host: str, port: int) -> list[Address]:
    """Every address the name has, IPv4 and IPv6, in the resolver's order."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(N_("the host name {host} does not resolve; check its spelling"),
                           host=host) from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class Destinations:
    """The rule, from the settings: which ports, and which networks despite the rule."""

    allowed_networks: tuple[str, ...] = ()
    allowed_ports: tuple[int, ...] = (110, 995)
    resolver: Resolver = resolve

    @classmethod
    def from_settings(cls, settings: Settings) -> Destinations:
        return cls(settings.collect_allowed_networks, settings.collect_allowed_ports)

    def check(self, host: str, port: int) -> list[Address]:
        """The addresses to connect to, or a refusal saying why not."""
        if port not in self.allowed_ports:
            ports = ", ".join(str(allowed) for allowed in self.allowed_ports)
            raise PortRefused(N_("port {port} is not a POP3 port; collection connects to "
                                 "{ports} only (an operator may allow others with "
                                 "collect.allowed_ports)"), port=port, ports=ports)
        addresses = self.resolver(host, port)
        if not addresses:
            raise Unresolvable(N_("the host name {host} has no address; check its spelling"),
                               host=host)
        for address in addresses:
            kind = self.refusal(address)
            if kind:
                shown = host if str(address) == host else f"{host} ({address})"
                raise AddressRefused(
                    N_("{shown} is {a_kind} address; collection fetches only from public "
                       "POP3 servers (an operator may allow a network with "
                       "collect.allowed_networks)"), kind, shown=shown, a_kind=an(kind))
        return addresses

    def refusal(self, address: Address) -> str | None:
        """What kind of address this is when it is one collection must not use."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(address in ipaddress.ip_network(network)
               for network in self.allowed_networks):
            return None
        if address.is_unspecified:
            return "unspecified"
        if address.is_loopback:
            return "loopback"
        if address.is_link_local:
            return "link-local"
        if address.is_multicast:
            return "multicast"
        if not address.is_global:
            return "private or reserved"
        if is_own_address(address):
            return "this host's own"
        return None


def an(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def is_own_address(address: Address) -> bool:
    """True when this host can bind to the address: then it is one of its own, whatever
    interface carries it (its public address too, where a local service may listen)."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError:
            return False
    return True
