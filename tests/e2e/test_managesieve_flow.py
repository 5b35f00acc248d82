"""`mailbasic managesieve` against the real stack: Debian's sieve-connect uploads and
activates a script that then decides mail delivered through Postfix, a raw client walks
through the protocol (TLS-less AUTHENTICATE refused, an unsupported extension refused
with its line, drafts kept, the active script being the mailbox's filters)."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import subprocess
from dataclasses import replace
from datetime import date, timedelta

import pytest

from tests.conftest import Cli
from tests.corpus import mail
from tests.e2e.test_rules_flow import arrives, messages, send, settle, unique

HOST = "127.0.0.1"
DOMAIN = "managesieve.example"
PASSWORD = "a long rules secret"   # test_rules_flow's helpers log in with it
PEOPLE = ("mara.sieve", "nils.sieve", "olga.sieve", "paul.sieve", "quinn.sieve")
SCRIPT = """require ["fileinto"];
# Invoices go to their own folder.
if header :contains "subject" "Rechnung" { fileinto "Rechnungen"; stop; }
"""
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


def address(name: str) -> str:
    return f"{name}@{DOMAIN}"


@pytest.fixture(scope="module")
def sieve_cli(postfix, managesieve, tmp_path_factory) -> Cli:
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", DOMAIN)
    for name in PEOPLE:
        cli.ok("customer", "add", name, "--domain", DOMAIN, "--password-stdin",
               input=PASSWORD + "\n")
    return cli


class Client:
    """A ManageSieve client as small as the tests need: responses read whole."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection((HOST, port), timeout=60)
        self.stream = self.socket.makefile("rb")
        self.greeting = self.read()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.stream.close()
        self.socket.close()

    def read(self) -> bytes:
        """Everything up to and including the OK, NO or BYE line."""
        received = b""
        while True:
            line = self.stream.readline()
            assert line, received
            received += line
            literal = _LITERAL.search(line)
            if literal:
                received += self.stream.read(int(literal.group(1)))
            elif line.startswith((b"OK", b"NO", b"BYE")):
                return received

    def send(self, command: bytes) -> bytes:
        self.socket.sendall(command + b"\r\n")
        return self.read()

    def starttls(self, context: ssl.SSLContext) -> bytes:
        assert self.send(b"STARTTLS").startswith(b"OK")
        self.stream.close()
        self.socket = context.wrap_socket(self.socket, server_hostname="localhost")
        self.stream = self.socket.makefile("rb")
        return self.read()

    def login(self, user: str, password: str = PASSWORD) -> bytes:
        plain = base64.b64encode(f"\0{user}\0{password}".encode())
        return self.send(b'AUTHENTICATE "PLAIN" "' + plain + b'"')

    def put(self, name: str, script: str) -> bytes:
        octets = script.encode()
        return self.send(b'PUTSCRIPT "%s" {%d+}\r\n' % (name.encode(), len(octets)) + octets)


def test_authenticate_before_starttls_is_refused(managesieve, sieve_cli):
    with Client(managesieve.ports.managesieve) as client:
        assert b'"STARTTLS"' in client.greeting and b'"SASL" ""' in client.greeting
        answer = client.login(address("mara.sieve"))
        assert answer.startswith(b"NO (ENCRYPT-NEEDED)")
        assert client.send(b"LISTSCRIPTS").startswith(b"NO")  # still not logged in


def test_a_wrong_password_is_refused_and_a_right_one_logs_in(managesieve, sieve_cli,
                                                            tls_context):
    with Client(managesieve.ports.managesieve) as client:
        capabilities = client.starttls(tls_context)
        assert b'"SASL" "PLAIN"' in capabilities and b"STARTTLS" not in capabilities
        assert client.login(address("mara.sieve"), "wrong").startswith(b"NO")
        assert client.login(address("mara.sieve")) == b'OK "logged in"\r\n'


def test_an_unsupported_extension_is_refused_with_its_line(managesieve, sieve_cli,
                                                          tls_context):
    with Client(managesieve.ports.managesieve) as client:
        client.starttls(tls_context)
        client.login(address("nils.sieve"))
        refusal = client.put("x", 'require ["fileinto"];\r\nrequire "imap4flags";\r\nkeep;\r\n')
        assert refusal.startswith(b'NO "line 2: '), refusal
        assert b"imap4flags" in refusal
        assert client.send(b"LISTSCRIPTS") == b'OK "listed"\r\n'   # nothing was stored
        checked = client.send(b'CHECKSCRIPT "require \\"imap4flags\\"; keep;"')
        assert checked.startswith(b'NO "line 1: ') and b"imap4flags" in checked


def test_drafts_are_kept_and_the_active_script_is_the_filters(managesieve, sieve_cli,
                                                              tls_context):
    mailbox = address("olga.sieve")
    with Client(managesieve.ports.managesieve) as client:
        client.starttls(tls_context)
        client.login(mailbox)
        assert client.put("draft", SCRIPT).startswith(b"OK")
        assert sieve_cli.ok("rules", "filter", "export", mailbox).output == ""
        assert client.send(b'SETACTIVE "draft"').startswith(b"OK")
        exported = sieve_cli.ok("rules", "filter", "export", mailbox).output
        assert 'fileinto "Rechnungen"' in exported
        assert client.send(b"LISTSCRIPTS") == b'"draft" ACTIVE\r\nOK "listed"\r\n'
        assert exported.encode() in client.send(b'GETSCRIPT "draft"')
        assert client.send(b'DELETESCRIPT "draft"').startswith(b"NO (ACTIVE)")
        assert client.send(b'RENAMESCRIPT "draft" "invoices"').startswith(b"OK")
        assert client.put("other", "keep;\r\n").startswith(b"OK")
        assert client.send(b'SETACTIVE ""').startswith(b"OK")
        assert sieve_cli.ok("rules", "filter", "export", mailbox).output == ""
        assert client.send(b"LISTSCRIPTS") == b'"invoices"\r\n"other"\r\nOK "listed"\r\n'
        assert b'fileinto "Rechnungen"' in client.send(b'GETSCRIPT "invoices"')
        assert client.send(b'GETSCRIPT "gone"').startswith(b"NO (NONEXISTENT)")
        assert client.send(b'DELETESCRIPT "other"').startswith(b"OK")
        assert client.send(b'HAVESPACE "new" 1000').startswith(b"OK")
        assert client.send(b'HAVESPACE "new" 10000000').startswith(b"NO (QUOTA/MAXSIZE)")
        assert client.send(b'NOOP "t1"') == b'OK (TAG "t1") "done"\r\n'
        assert client.send(b"LOGOUT").startswith(b"OK")


def sieve_connect(stack, user: str, *arguments: str) -> subprocess.CompletedProcess:
    """Debian's sieve-connect, password through a pipe, the stack's CA trusted."""
    reading, writing = os.pipe()
    os.write(writing, (PASSWORD + "\n").encode())
    os.close(writing)
    try:
        return subprocess.run(
            ["sieve-connect", "--server", HOST, "--port", str(stack.ports.managesieve),
             "--user", user, "--passwordfd", str(reading), "--authmech", "PLAIN",
             "--tlscafile", str(stack.certificates.ca), "--tlshostname", "localhost",
             *arguments], pass_fds=(reading,), capture_output=True, text=True, timeout=60)
    finally:
        os.close(reading)


def test_a_script_uploaded_with_sieve_connect_decides_mail_through_postfix(
        postfix, managesieve, sieve_cli, tls_context, tmp_path):
    mailbox = address("paul.sieve")
    script = tmp_path / "paul.sieve"
    script.write_text(SCRIPT)
    uploaded = sieve_connect(postfix, mailbox, "--localsieve", str(script),
                             "--remotesieve", "phone", "--upload")
    assert uploaded.returncode == 0, uploaded.stderr
    activated = sieve_connect(postfix, mailbox, "--remotesieve", "phone", "--activate")
    assert activated.returncode == 0, activated.stderr
    listed = sieve_connect(postfix, mailbox, "--list")
    assert '"phone" ACTIVE' in listed.stdout, listed.stdout   # the server's own line
    invoice, other = unique("Rechnung"), unique("Hallo")
    send(postfix, mail(invoice, "Bitte zahlen.\n").as_bytes(), [mailbox])
    send(postfix, mail(other, "Wie geht's?\n").as_bytes(), [mailbox])
    arrives(postfix, tls_context, mailbox, "Rechnungen", invoice)
    arrives(postfix, tls_context, mailbox, "INBOX", other)
    settle(postfix)
    assert not messages(postfix, tls_context, mailbox, "INBOX", invoice)


def test_sieve_connect_sees_an_unsupported_extension_refused(postfix, managesieve, sieve_cli,
                                                            tmp_path):
    script = tmp_path / "flags.sieve"
    script.write_text('require "imap4flags";\naddflag "\\\\Seen";\n')
    uploaded = sieve_connect(postfix, address("paul.sieve"), "--localsieve", str(script),
                             "--remotesieve", "flags", "--upload")
    assert uploaded.returncode != 0
    assert "line 1" in uploaded.stdout + uploaded.stderr


def sogo_vacation(mailbox: str, first: date, last: date) -> str:
    """The script SOGo 5.8 writes for a vacation with dates that ignores mailing lists
    (SOGoSieveManager.m), and a filter before it."""
    return ('require ["fileinto","vacation","date","relational"];\r\n'
            'if anyof (header :contains "subject" "Rechnung") {\r\n'
            '    fileinto "Rechnungen";\r\n}\r\n'
            'if allof ( not exists ["list-help", "list-unsubscribe", "list-subscribe", '
            '"list-owner", "list-post", "list-archive", "list-id", "Mailing-List"], '
            'not header :comparator "i;ascii-casemap" :is "Precedence" '
            '["list", "bulk", "junk"], not header :comparator "i;ascii-casemap" :matches '
            '"To" "Multiple recipients of*", '
            f'currentdate :value "ge" "date" "{first.isoformat()}", '
            f'currentdate :value "le" "date" "{last.isoformat()}" ) '
            f'{{ vacation :days 7 :subject "Bin im Urlaub" :addresses ["{mailbox}"] '
            'text:\r\nAb Montag wieder da.\r\n.\r\n;\r\n}\r\n')


def test_a_clients_dated_vacation_is_the_mailboxs_and_answers_mail_through_postfix(
        postfix, managesieve, sieve_cli, tls_context):
    away, sender = address("quinn.sieve"), address("mara.sieve")
    first, last = date.today() - timedelta(days=1), date.today() + timedelta(days=1)
    with Client(managesieve.ports.managesieve) as client:
        client.starttls(tls_context)
        client.login(away)
        assert client.put("sogo", sogo_vacation(away, first, last)).startswith(b"OK")
        assert client.send(b'SETACTIVE "sogo"').startswith(b"OK")
        script = client.send(b'GETSCRIPT "sogo"')
    assert f'currentdate :value "le" "date" "{last.isoformat()}"'.encode() in script
    assert b'"Bin im Urlaub"' in script and b'fileinto "Rechnungen"' in script
    shown = json.loads(sieve_cli.ok("rules", "show", away, "--json").output)
    assert shown["vacation"] == {"from": first.isoformat(), "until": last.isoformat(),
                                 "subject": "Bin im Urlaub",
                                 "text": "Ab Montag wieder da.\r\n", "interval_days": 7}
    assert "vacation" not in shown["filters"]
    question = unique("Frage")
    send(postfix, mail(question, "Hallo?\n", sender=sender, recipient=away).as_bytes(),
         [away], sender=sender)
    arrives(postfix, tls_context, away, "INBOX", question)
    [reply] = arrives(postfix, tls_context, sender, "INBOX", "Bin im Urlaub")
    assert reply["Auto-Submitted"] == "auto-replied" and reply["Return-Path"] == "<>"
    assert "Ab Montag wieder da." in reply.get_content()
