"""The policy daemon: threads, persistent connections, many requests per connection.

This is the protocol boundary. Garbage from a client is logged and the connection
closed. When the database is down or slow the connection is closed without an answer:
Postfix then applies smtpd_policy_service_default_action (451), never DUNNO.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import socketserver

import psycopg2
from sqlalchemy.exc import SQLAlchemyError

from mailbasic import dbdeadline
from mailbasic.config import Settings
from mailbasic.forking import die_with_parent
from mailbasic.policy.decide import Policy
from mailbasic.policy.protocol import ProtocolError, answer, read_request

log = logging.getLogger("mailbasic.policy")

IDLE_SECONDS = 600  # Postfix drops idle policy connections after 300 s by itself


class PolicyHandler(socketserver.StreamRequestHandler):
    timeout = IDLE_SECONDS
    server: PolicyServer

    def handle(self) -> None:
        peer = self.client_address or "local"
        while True:
            try:
                attributes = read_request(self.rfile)
            except ProtocolError as error:
                log.warning("closing connection from %s: %s", peer, error)
                return
            except OSError as error:  # includes the idle timeout
                log.info("connection from %s ended: %s", peer, error)
                return
            if attributes is None:
                return
            try:
                action = self.server.policy.decide(attributes)
            except (SQLAlchemyError, psycopg2.Error) as error:
                log.error("%s: check=- action=none reason=database unavailable (%s); "
                          "closing without an answer", attributes.get("queue_id") or
                          "NOQUEUE", str(error).splitlines()[0])
                return
            except Exception:
                log.exception("internal error; closing without an answer")
                return
            self.wfile.write(answer(action))
            self.wfile.flush()


class _Threads:
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    policy: Policy


class TcpPolicyServer(_Threads, socketserver.ThreadingTCPServer):
    pass


class UnixPolicyServer(_Threads, socketserver.ThreadingUnixStreamServer):
    pass


PolicyServer = TcpPolicyServer | UnixPolicyServer


def make_server(settings: Settings, policy: Policy | None = None) -> PolicyServer:
    """Bind the socket and attach the policy (built from settings unless given)."""
    server = bind(settings)
    server.policy = policy or Policy(settings)
    return server


def bind(settings: Settings) -> PolicyServer:
    """The listening socket, with no policy attached yet."""
    kind, _, where = settings.policy_socket.partition(":")
    server: PolicyServer
    if kind == "unix":
        if os.path.exists(where):
            os.unlink(where)
        old_umask = os.umask(0o007)  # ours and our group's (postfix), nobody else's
        try:
            server = UnixPolicyServer(where, PolicyHandler)
        finally:
            os.umask(old_umask)
    else:
        port, _, host = where.partition("@")
        server = TcpPolicyServer((host, int(port)), PolicyHandler)
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server


def run(settings: Settings) -> None:
    """Bind once, then serve from policy.workers processes accepting on the one socket: one
    process's threads share one GIL, and a busy GIL is what lengthens the slowest answers.
    Each process builds its own Policy (database pool, caches) after the fork."""
    dbdeadline.install(settings.database_deadline)
    server = bind(settings)
    log.info("mailbasic policy daemon listening on %s with %d processes",
             settings.policy_socket, settings.policy_workers)
    children: list[int] = []
    parent = os.getpid()
    for _ in range(settings.policy_workers - 1):
        pid = os.fork()
        if pid == 0:
            children = []
            die_with_parent(parent)
            break
        children.append(pid)
    server.policy = Policy(settings)
    try:
        with server:
            server.serve_forever()
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)

