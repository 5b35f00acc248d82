"""The stack's DNS server: Debian's dnsmasq on loopback, serving the test zones only.

Nothing is forwarded (no-resolv, no /etc/hosts): a name of the test zones gets its
records, every other name NXDOMAIN at once (`local=/#/`), so that rspamd's DNS checks
finish without waiting on a timeout and nothing reaches the internet. The zones are a
file the stack writes (dns/zones.conf, dnsmasq's own record syntax).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import StackError, start_daemon, stop_pidfile, wait_until

USER = "dnsmasq"
RCODE_NXDOMAIN = 3
TYPE_A, TYPE_MX, TYPE_TXT = 1, 15, 16


@dataclass(frozen=True)
class Record:
    """One record of the test zones, as a dnsmasq option: ("host-record",
    "mail.example.net,127.0.0.1"), ("mx-host", "example.net,mail.example.net,10"),
    ("txt-record", 'example.net,"v=spf1 mx -all"')."""

    option: str
    value: str

    def line(self) -> str:
        if "\n" in self.value or self.option not in ZONE_OPTIONS:
            raise StackError(f"not a test zone record: {self.option}={self.value!r}")
        return f"{self.option}={self.value}"


ZONE_OPTIONS = frozenset({"host-record", "mx-host", "txt-record", "cname", "srv-host",
                          "ptr-record", "caa-record"})


# A sender domain outside the service, whose mail comes from a documentation address
# (RFC 5737): the tests' ham passes its SPF and its host names resolve.
OUTSIDE_DOMAIN, OUTSIDE_MAIL_HOST, OUTSIDE_IP = "outside.example", "mail.outside.example", \
    "192.0.2.25"


def mail_domain(domain: str, host: str, address: str) -> list[Record]:
    """A mail domain: its mail host's address, MX and SPF (that host only)."""
    return [Record("host-record", f"{host},{address}"),
            Record("mx-host", f"{domain},{host},10"),
            Record("txt-record", f'{domain},"v=spf1 a:{host} -all"')]


def default_records(service_domain: str) -> list[Record]:
    """The service domain's own (its mail host on loopback) and the outside domain's."""
    return (mail_domain(service_domain, f"mail.{service_domain}", HOST)
            + mail_domain(OUTSIDE_DOMAIN, OUTSIDE_MAIL_HOST, OUTSIDE_IP))


class DnsServer:
    name = "dns"
    # The TTL of the zones' records. 0 (dnsmasq's default): nothing is cached, so a
    # record a test publishes is seen at once by every resolver. The benchmark gives them
    # a TTL as real zones have, so that resolvers cache them as they do in production.
    local_ttl = 0

    def __init__(self, layout: Layout, port: int, records: Sequence[Record]) -> None:
        self.port, self.records = port, tuple(records)
        self.directory = layout.component(self.name)
        self.config = self.directory / "dnsmasq.conf"
        self.zones = self.directory / "zones.conf"
        self.pidfile = self.directory / "dnsmasq.pid"
        self.logfile = layout.log(self.name)

    @property
    def address(self) -> str:
        """host:port, as rspamd's nameserver option names it."""
        return f"{HOST}:{self.port}"

    def launch(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write_zones()
        self.config.write_text("\n".join([
            f"port={self.port}", f"listen-address={HOST}", "bind-interfaces",
            "no-resolv", "no-hosts", "local=/#/",   # nothing forwarded: NXDOMAIN at once
            f"local-ttl={self.local_ttl}", f"conf-file={self.zones}", ""]))
        start_daemon(["dnsmasq", f"--conf-file={self.config}", f"--pid-file={self.pidfile}",
                      f"--user={USER}", f"--log-facility={self.logfile}"], self.logfile)

    def publish(self, records: Sequence[Record]) -> None:
        """Serve RECORDS as well from now on (a test's own, such as a DKIM key's TXT
        record). dnsmasq reads its zones only when it starts: when they change, it is
        restarted, and answers again before this returns."""
        served = {record.line() for record in self.records}
        added = tuple(record for record in records if record.line() not in served)
        if not added:
            return
        self.records += added
        self.stop()
        self.launch()
        self.wait_ready()

    def write_zones(self) -> Path:
        self.zones.write_text("".join(record.line() + "\n" for record in self.records))
        return self.zones

    def wait_ready(self) -> None:
        wait_until(lambda: query(self.port, "ready.invalid", TYPE_A)[0] == RCODE_NXDOMAIN,
                   what=f"dnsmasq on port {self.port}", timeout=30, log=self.logfile)

    def stop(self) -> None:
        stop_pidfile(self.pidfile, "dnsmasq")


def query(port: int, name: str, qtype: int, host: str = HOST,
          timeout: float = 2) -> tuple[int, int]:
    """One question over UDP: (RCODE, number of answers). For readiness and the tests."""
    question = b"".join(bytes([len(label)]) + label.encode("ascii")
                        for label in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", 0x6D62, 0x0100, 1, 0, 0, 0) + question + struct.pack(
        ">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as connection:
        connection.settimeout(timeout)
        connection.sendto(packet, (host, port))
        answer = connection.recv(4096)
    if len(answer) < 12 or answer[:2] != packet[:2]:
        raise OSError(f"not an answer to our DNS question: {answer[:40]!r}")
    flags, answers = struct.unpack(">H", answer[2:4])[0], struct.unpack(">H", answer[6:8])[0]
    return flags & 0xF, answers
