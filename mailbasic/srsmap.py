"""`mailbasic srs`: the return path of forwarded mail. A Postfix socketmap table
(virtual_alias_maps = socketmap:unix:PATH:reverse) that turns a valid SRS address of the
SRS domain back into the address it stands for, so a bounce of a forwarded message
reaches its original sender. Forged, altered and expired SRS addresses are not found.

The socketmap protocol (Postfix's socketmap_table(5)): each request and each reply is a
netstring, "LENGTH:TEXT,"; a request is "NAME KEY", a reply "OK VALUE", "NOTFOUND ",
"TEMP REASON" or "PERM REASON".
"""

from __future__ import annotations

import logging
import os
import socketserver
from typing import BinaryIO

from mailbasic.config import Settings
from mailbasic.srs import Srs, SrsError, is_srs, srs_domain

log = logging.getLogger("mailbasic.srs")

MAX_REQUEST = 100_000  # Postfix's socketmap_max_reply is 100000 too
TABLE = "reverse"


class NetstringError(Exception):
    pass


def read_netstring(stream: BinaryIO) -> bytes | None:
    """One netstring; None at a clean end of the connection."""
    digits = b""
    while (byte := stream.read(1)) != b":":
        if not byte:
            if digits:
                raise NetstringError("connection closed inside a length")
            return None
        if not byte.isdigit() or len(digits) >= 6:
            raise NetstringError(f"bad netstring length {digits + byte!r}")
        digits += byte
    if not digits or int(digits) > MAX_REQUEST:
        raise NetstringError(f"netstring length {digits!r} out of range")
    payload = stream.read(int(digits))
    if len(payload) != int(digits) or stream.read(1) != b",":
        raise NetstringError("netstring truncated or not ended by ','")
    return payload


def netstring(text: str) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    return str(len(data)).encode() + b":" + data + b","


class ReverseTable:
    def __init__(self, srs: Srs, domain: str) -> None:
        self.srs, self.domain = srs, domain.lower()

    def lookup(self, request: str) -> str:
        name, _, key = request.partition(" ")
        if name != TABLE:
            return f"PERM no table named {name!r}"
        local_part, _, domain = key.rpartition("@")
        if domain.lower() != self.domain or not is_srs(local_part):
            return "NOTFOUND "
        try:
            original = self.srs.reverse(key)
        except SrsError as error:
            log.info("srs: verdict=notfound key=<%s> reason=%s", key, error)
            return "NOTFOUND "
        log.info("srs: verdict=found key=<%s> original=<%s>", key, original)
        return f"OK {original}"


class SocketmapHandler(socketserver.StreamRequestHandler):
    timeout = 600

    def handle(self) -> None:
        while True:
            try:
                request = read_netstring(self.rfile)
            except (NetstringError, OSError) as error:
                log.warning("srs: closing connection: %s", error)
                return
            if request is None:
                return
            answer = self.server.table.lookup(request.decode("utf-8", "surrogateescape"))
            self.wfile.write(netstring(answer))
            self.wfile.flush()


class UnixSocketmapServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def run(settings: Settings) -> None:
    if not settings.srs_secrets:
        raise SystemExit("mailbasic srs: forwarding.srs_secrets is not set")
    path = settings.srs_socket.removeprefix("unix:")
    if os.path.exists(path):
        os.unlink(path)
    os.umask(0o007)  # ours and our group's (postfix), nobody else's
    server = UnixSocketmapServer(path, SocketmapHandler)
    server.table = ReverseTable(Srs([secret.encode() for secret in settings.srs_secrets],
                                    settings.srs_max_age_days), srs_domain(settings))
    log.info("mailbasic srs table listening on %s for %s", path, srs_domain(settings))
    with server:
        server.serve_forever()
