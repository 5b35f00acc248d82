"""A POP3 server on loopback that misbehaves as a test tells it to: a banner and replies
full of secrets, sizes that lie, bodies without end, a listing sent one byte at a time.
A real server on a real socket, serving each session from a thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from tests.loopback import LoopbackServer

LINE = b"x" * 998 + b"\r\n"


@dataclass
class Served:
    uidl: str
    announced: int       # the size LIST gives
    body_size: int       # the size RETR sends (lines of x after a small header)


class HostilePop3(LoopbackServer):
    def __init__(self, messages: list[Served], *, banner: bytes = b"+OK ready",
                 login_reply: bytes = b"+OK logged in", trickle_listing: bool = False) -> None:
        self.messages, self.banner, self.login_reply = messages, banner, login_reply
        self.trickle_listing = trickle_listing
        self.commands: list[bytes] = []
        self.open_sessions = 0
        self.stopped = threading.Event()
        super().__init__()

    def close(self) -> None:
        self.stopped.set()
        super().close()

    def _session(self, client: socket.socket) -> None:
        self.open_sessions += 1
        try:
            with client, client.makefile("rb") as lines:
                client.sendall(self.banner + b"\r\n")
                while line := lines.readline():
                    command = line.strip()
                    self.commands.append(command)
                    if not self._answer(client, command):
                        return
        except OSError:
            pass  # the client went away: what a hostile server is for
        finally:
            self.open_sessions -= 1

    def _answer(self, client: socket.socket, command: bytes) -> bool:
        verb, _, argument = command.partition(b" ")
        verb = verb.upper()
        if verb in (b"USER", b"DELE", b"NOOP"):
            client.sendall(b"+OK\r\n")
        elif verb == b"PASS":
            client.sendall(self.login_reply + b"\r\n")
        elif verb in (b"LIST", b"UIDL") and self.trickle_listing:
            client.sendall(b"+OK\r\n")
            while not self.stopped.wait(0.5):  # one byte at a time, never a line
                client.sendall(b"1")
            return False
        elif verb == b"LIST":
            client.sendall(b"+OK\r\n" + b"".join(
                f"{number} {message.announced}\r\n".encode()
                for number, message in enumerate(self.messages, 1)) + b".\r\n")
        elif verb == b"UIDL":
            client.sendall(b"+OK\r\n" + b"".join(
                f"{number} {message.uidl}\r\n".encode()
                for number, message in enumerate(self.messages, 1)) + b".\r\n")
        elif verb == b"RETR":
            self._send_message(client, self.messages[int(argument) - 1])
        elif verb == b"QUIT":
            client.sendall(b"+OK bye\r\n")
            return False
        else:
            client.sendall(b"-ERR unknown command\r\n")
        return True

    def _send_message(self, client: socket.socket, message: Served) -> None:
        head = (f"From: sender@elsewhere.example\r\nSubject: {message.uidl}\r\n"
                f"Message-ID: <{message.uidl}.{time.time()}@elsewhere.example>\r\n\r\n")
        client.sendall(b"+OK\r\n" + head.encode())
        sent, block = len(head), LINE * 64
        while sent < message.body_size:
            client.sendall(block)
            sent += len(block)
        client.sendall(b".\r\n")
