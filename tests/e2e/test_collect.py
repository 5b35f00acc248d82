"""POP3 collection against a second, real Dovecot POP3 server (the external provider):
over implicit TLS, STARTTLS and plain; into the mailbox through the real Postfix and
milter; a wrong password, a TLS failure, and a connection dropped in the middle of a
retrieve. Nothing is fetched twice, nothing is lost."""

from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbasic import db
from mailbasic.config import render_settings
from mailbasic.devstack.remote_pop3 import RemotePop3
from tests.conftest import Cli
from tests.corpus import GTUBE

DOMAIN = "collect.example"
MAILBASIC = str(Path(sys.executable).parent / "mailbasic")
REMOTE_USERS = {"anna@provider.example": "anna's provider secret",
                "ben@provider.example": "ben's provider secret",
                "cleo@provider.example": "cleo's provider secret",
                "dora@provider.example": "dora's provider secret",
                "eve@provider.example": "eve's provider secret"}


@pytest.fixture(scope="module")
def remote(postfix):
    directory = Path(tempfile.mkdtemp(prefix="mailbasic-remote-pop3-"))
    directory.chmod(0o755)
    server = RemotePop3(directory, postfix.certificates)
    server.launch(REMOTE_USERS)
    yield server
    server.stop()
    shutil.rmtree(directory)


@pytest.fixture(scope="module")
def collecting(postfix, tmp_path_factory):
    """Settings with a collection key, trusting the stack's CA (the remote's certificate)."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    settings = replace(postfix.settings, bcrypt_cost=4, collect_key=key,
                       collect_smtp_port=postfix.ports.smtp, collect_timeout=5.0,
                       collect_ca_file=str(postfix.certificates.ca))
    directory = tmp_path_factory.mktemp("collect")
    cli = Cli(settings, directory)
    cli.ok("domain", "add", DOMAIN)
    return settings, cli, directory


def config_file(settings, directory: Path, name: str = "mailbasic.toml") -> Path:
    path = directory / name
    path.write_text(render_settings(settings))
    return path


def collect(config: Path) -> str:
    done = subprocess.run([MAILBASIC, "--config", str(config), "jobs", "collect"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def make_due(settings) -> None:
    """As if every account's interval had passed."""
    engine = db.make_engine(settings)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE collect_accounts SET last_run_at = NULL"))
    finally:
        engine.dispose()


def message(subject: str, body: str = "collected text\n") -> bytes:
    return (f"Return-Path: <sender@elsewhere.example>\r\nFrom: sender@elsewhere.example\r\n"
            f"To: someone@provider.example\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4()}@elsewhere.example>\r\n\r\n{body}").encode()


def subjects(stack, user: str) -> list[str]:
    fetched = json.loads(stack.dovecot.doveadm("-f", "json", "fetch", "-u", user,
                                               "hdr.subject", "mailbox", "*", "all"))
    return sorted(entry["hdr.subject"] for entry in fetched)


def wait_for(stack, user: str, count: int) -> list[str]:
    deadline = time.monotonic() + 60
    while len(found := subjects(stack, user)) < count:
        assert time.monotonic() < deadline, f"{user} has {found}, expected {count}"
        time.sleep(0.3)
    time.sleep(0.5)  # nothing more may come
    return subjects(stack, user)


def status(cli: Cli, mailbox: str) -> dict:
    return json.loads(cli.ok("collect", "status", "--mailbox", mailbox, "--json").stdout)[0]


def add_account(cli, mailbox: str, user: str, *options: str,
                password: str | None = None) -> None:
    cli.ok("customer", "add", mailbox.split("@")[0], "--domain", DOMAIN,
           "--password-stdin", input="a collecting secret\n")
    cli.ok("collect", "add", mailbox, "--host", "127.0.0.1", "--user", user,
           "--password-stdin", *options, input=(password or REMOTE_USERS[user]) + "\n")


def test_collects_over_tls_once_and_leaves_mail_on_the_server(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"anna.collects@{DOMAIN}"
    for number in range(3):
        remote.deliver("anna@provider.example", message(f"tls {number}"))
    remote.deliver("anna@provider.example", message("tls spam", GTUBE))
    add_account(cli, mailbox, "anna@provider.example", "--security", "tls",
                "--port", str(remote.pop3s_port))
    config = config_file(settings, directory)

    log = collect(config)
    assert log.count(f"action=collect subject=anna@provider.example@127.0.0.1:"
                     f"{remote.pop3s_port}") == 4
    assert wait_for(postfix, mailbox, 4) == ["tls 0", "tls 1", "tls 2", "tls spam"]
    spam = json.loads(postfix.dovecot.doveadm(
        "-f", "json", "fetch", "-u", mailbox, "hdr.x-spam-flag", "header", "subject",
        "tls spam"))
    assert spam[0]["hdr.x-spam-flag"] == "YES"  # it came through the milter
    assert remote.count("anna@provider.example") == 4  # left on the server
    assert status(cli, mailbox)["last_error"] is None

    make_due(settings)
    collect(config)
    remote.deliver("anna@provider.example", message("tls later"))
    make_due(settings)
    assert "action=collect " in collect(config)
    assert wait_for(postfix, mailbox, 5) == ["tls 0", "tls 1", "tls 2", "tls later",
                                              "tls spam"]
    assert "action=collect" not in collect(config)  # within its interval: not fetched


def test_starttls_deleting_from_the_server(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"ben.collects@{DOMAIN}"
    for number in range(2):
        remote.deliver("ben@provider.example", message(f"starttls {number}"))
    add_account(cli, mailbox, "ben@provider.example", "--security", "starttls",
                "--port", str(remote.pop3_port), "--delete-from-server")
    collect(config_file(settings, directory))
    assert wait_for(postfix, mailbox, 2) == ["starttls 0", "starttls 1"]
    assert remote.count("ben@provider.example") == 0


def test_wrong_password_is_reported_in_the_status(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"cleo.collects@{DOMAIN}"
    add_account(cli, mailbox, "cleo@provider.example", "--security", "tls",
                "--port", str(remote.pop3s_port), password="not cleo's password")
    log = collect(config_file(settings, directory))
    assert "action=collect-failed subject=cleo@provider.example" in log
    state = status(cli, mailbox)
    assert "logging in: the server answered" in state["last_error"]
    assert state["last_success_at"] is None and state["last_run_at"] is not None


def test_a_certificate_nobody_vouches_for_is_a_tls_failure(postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"dora.collects@{DOMAIN}"
    remote.deliver("dora@provider.example", message("never read"))
    add_account(cli, mailbox, "dora@provider.example", "--security", "tls",
                "--port", str(remote.pop3s_port))
    untrusting = replace(settings, collect_ca_file=None)
    make_due(settings)
    collect(config_file(untrusting, directory, "untrusting.toml"))
    assert "TLS failed: certificate verify failed" in status(cli, mailbox)["last_error"]
    assert subjects(postfix, mailbox) == []


class DroppingProxy:
    """Forwards a POP3 session to the real server, but the first time the client asks
    for message `number` it passes a few bytes of the answer and then cuts both sides."""

    def __init__(self, port: int, number: int) -> None:
        self.target, self.trigger = port, f"RETR {number}\r\n".encode()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(client,), daemon=True).start()

    def _session(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.target)) as server:
            sockets = {client: server, server: client}
            cutting = False
            client.settimeout(10), server.settimeout(10)
            with selectors.DefaultSelector() as selector:
                for end in sockets:
                    selector.register(end, selectors.EVENT_READ)
                while True:
                    for key, _ in selector.select(10):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        if key.fileobj is client and data == self.trigger \
                                and not self.dropped.is_set():
                            cutting = True
                        if key.fileobj is server and cutting:
                            sockets[server].sendall(data[:40])
                            self.dropped.set()
                            return
                        sockets[key.fileobj].sendall(data)

    def close(self) -> None:
        self.listener.close()


def test_a_connection_dropped_mid_retrieve_loses_nothing_and_doubles_nothing(
        postfix, remote, collecting):
    settings, cli, directory = collecting
    mailbox = f"eve.collects@{DOMAIN}"
    user = "eve@provider.example"
    for number in range(3):
        remote.deliver(user, message(f"dropped {number}"))
    proxy = DroppingProxy(remote.pop3_port, 2)
    try:
        add_account(cli, mailbox, user, "--security", "plain", "--port", str(proxy.port),
                    "--delete-from-server")
        config = config_file(settings, directory)
        collect(config)
        assert proxy.dropped.is_set()
        state = status(cli, mailbox)
        assert "retrieving message 2: the server closed the connection" in state["last_error"]
        assert wait_for(postfix, mailbox, 1) == ["dropped 0"]
        assert remote.count(user) == 3  # the deletion of 1 never reached QUIT

        make_due(settings)
        collect(config)
        assert wait_for(postfix, mailbox, 3) == ["dropped 0", "dropped 1", "dropped 2"]
        assert remote.count(user) == 0
        assert status(cli, mailbox)["last_error"] is None
    finally:
        proxy.close()
