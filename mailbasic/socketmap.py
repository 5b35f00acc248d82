"""Postfix's socketmap protocol (socketmap_table(5)), served from a unix socket.

Each request and each reply is a netstring, "LENGTH:TEXT,"; a request is "NAME KEY", a
reply "OK VALUE", "NOTFOUND ", "TEMP REASON" or "PERM REASON". A table is any object
with `lookup(request) -> reply`; Postfix keeps a connection open and asks many times.
"""

from __future__ import annotations

import logging
import os
import socketserver
from io import BufferedIOBase
from typing import Protocol

log = logging.getLogger("mailbasic.socketmap")

MAX_REQUEST = 100_000  # Postfix's socketmap_max_reply is 100000 too


class Table(Protocol):
    def lookup(self, request: str) -> str: ...


class NetstringError(Exception):
    pass


def read_netstring(stream: BufferedIOBase) -> bytes | None:
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


class SocketmapHandler(socketserver.StreamRequestHandler):
    timeout = 600
    server: UnixSocketmapServer

    def handle(self) -> None:
        while True:
            try:
                request = read_netstring(self.rfile)
            except (NetstringError, OSError) as error:
                log.warning("socketmap: closing connection: %s", error)
                return
            if request is None:
                return
            answer = self.server.table.lookup(request.decode("utf-8", "surrogateescape"))
            self.wfile.write(netstring(answer))
            self.wfile.flush()


class UnixSocketmapServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    table: Table


def serve(socket_setting: str, table: Table) -> None:
    """Answer on unix:PATH until stopped; the socket is ours and our group's (postfix)."""
    path = socket_setting.removeprefix("unix:")
    if os.path.exists(path):
        os.unlink(path)
    os.umask(0o007)
    server = UnixSocketmapServer(path, SocketmapHandler)
    server.table = table
    log.info("socketmap listening on %s", path)
    with server:
        server.serve_forever()
