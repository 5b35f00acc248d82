"""The rule of where POP3 collection may connect, address by address (the resolver is
given, so any mix of answers can be tried; the CLI test uses the real one)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from mailbasic.collect.destination import (
    AddressRefused,
    Destinations,
    PortRefused,
    Unresolvable,
    is_own_address,
)


def answering(*addresses: str):
    return lambda host, port: [ipaddress.ip_address(address) for address in addresses]


def test_a_name_is_refused_when_any_of_its_addresses_is():
    rule = Destinations(resolver=answering("93.184.215.14", "10.0.0.5"))
    with pytest.raises(AddressRefused, match=r"pop\.example \(10\.0\.0\.5\) is a private"):
        rule.check("pop.example", 995)
    assert Destinations(resolver=answering("93.184.215.14")).check("pop.example", 995) == [
        ipaddress.ip_address("93.184.215.14")]


@pytest.mark.parametrize("address, kind", [
    ("::ffff:127.0.0.1", "loopback"), ("::1", "loopback"), ("fe80::1", "link-local"),
    ("fd00::1", "private or reserved"), ("100.64.0.1", "private or reserved"),
    ("ff02::1", "multicast"), ("::", "unspecified")])
def test_internal_addresses_of_every_kind_are_refused(address, kind):
    assert Destinations().refusal(ipaddress.ip_address(address)) == kind


def test_this_hosts_own_public_address_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: it picks the source
            own = ipaddress.ip_address(probe.getsockname()[0])
        except OSError:  # no route off this host: its loopback address is its own too
            own = ipaddress.ip_address("127.0.0.1")
    assert is_own_address(own)
    assert not is_own_address(ipaddress.ip_address("192.0.2.1"))
    if own.is_global:
        assert Destinations().refusal(own) == "this host's own"


def test_allowed_networks_and_ports():
    rule = Destinations(allowed_networks=("127.0.0.0/8",), allowed_ports=(110, 10110),
                        resolver=answering("127.0.0.1"))
    assert rule.check("localhost", 10110) == [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(PortRefused, match="port 995 is not a POP3 port"):
        rule.check("localhost", 995)
    with pytest.raises(Unresolvable):
        Destinations(resolver=answering()).check("nowhere.example", 110)
