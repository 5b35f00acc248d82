"""One time budget for a whole exchange, not per socket operation: a server that trickles
one byte per second must not stretch a 10 s timeout into minutes."""

from __future__ import annotations

import socket
import time


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.expires - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete answer within {self.seconds:g}s")
        return left

    def connect(self, host: str, port: int) -> socket.socket:
        connection = socket.create_connection((host, port), timeout=self.remaining())
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def sendall(self, connection: socket.socket, data: bytes) -> None:
        connection.settimeout(self.remaining())
        connection.sendall(data)

    def recv(self, connection: socket.socket, size: int = 65536) -> bytes:
        connection.settimeout(self.remaining())
        return connection.recv(size)
