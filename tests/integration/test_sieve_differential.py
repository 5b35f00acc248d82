"""Differential test: every script of the corpus on every message, run by Dovecot
Pigeonhole's real `sieve-test` and by mailbasic; both must do the same (the folders the
message is stored in, the addresses it is redirected to)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mailbasic.rules.evaluate import MessageFacts, evaluate
from mailbasic.rules.sieve import parse

SIEVE_TEST = shutil.which("sieve-test") or "/usr/bin/sieve-test"
pytestmark = pytest.mark.skipif(not os.path.exists(SIEVE_TEST),
                                reason="Pigeonhole's sieve-test (dovecot-sieve) is missing")

MESSAGES = {
    "plain": b"From: Chef <chef@Remote.Example>\r\nTo: dora@rules.example\r\n"
             b"Cc: \"Team\" <team@rules.example>, other@else.example\r\n"
             b"Subject: Rechnung 2026-07 fuer Buero\r\nX-Tag: Alpha\r\n"
             b"Message-ID: <1@remote.example>\r\n\r\nBitte bis Freitag zahlen.\r\n",
    "encoded": b"From: =?utf-8?q?J=C3=BCrgen?= <juergen@bank.example>\r\n"
               b"To: dora@rules.example\r\nSubject: =?utf-8?q?B=C3=BCro_Miete?=\r\n"
               b"\r\nMiete f\xc3\xbcr das B\xc3\xbcro.\r\n",
    "multipart": b"From: news@letter.example\r\nTo: list@rules.example\r\n"
                 b"Subject: Weekly newsletter\r\nList-Id: <weekly.letter.example>\r\n"
                 b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n"
                 b"\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                 b"Angebote f=C3=BCr Sie: UNSUBSCRIBE here\r\n--b1\r\n"
                 b"Content-Type: application/octet-stream\r\n\r\nsecretword\r\n--b1--\r\n",
    "big": b"From: big@remote.example\r\nTo: dora@rules.example\r\nSubject: order 12345\r\n"
           b"\r\n" + b"x" * 3000 + b"\r\n",
    "bare": b"Subject: \r\n\r\nno from, no to\r\n",
}

SCRIPTS = [
    'keep;',
    'discard;',
    'stop;',
    'require "fileinto";\nfileinto "Rechnungen 2026";',
    'require ["fileinto", "copy"];\nfileinto :copy "Büro";',
    'require "fileinto";\nif header :contains "subject" "rechnung" { fileinto "Rechnungen 2026"; }',
    'require "fileinto";\nif header :is "subject" "Büro Miete" { fileinto "Büro"; }',
    'require "fileinto";\nif header :is :comparator "i;octet" "x-tag" "alpha" { fileinto "A"; }\n'
    'elsif header :is "x-tag" "alpha" { fileinto "B"; } else { fileinto "C"; }',
    'require "fileinto";\nif header :matches "subject" "*20??-0?*" { fileinto "Dated"; }',
    'require "fileinto";\nif header :matches "subject" "Rechnung*" { fileinto "R"; stop; }\n'
    'fileinto "Not reached";',
    'require "fileinto";\nif header :matches "subject" "\\\\*" { fileinto "Star"; }',
    'require ["fileinto", "regex"];\nif header :regex "subject" "^order [0-9]+$" '
    '{ fileinto "Orders"; }',
    'require ["fileinto", "regex"];\nif header :regex "subject" "B(ü|u)e?ro" { fileinto "Büro"; }',
    'require "fileinto";\nif address :is "from" "chef@remote.example" { fileinto "Chef"; }',
    'require "fileinto";\nif address :domain :is "from" "bank.example" { fileinto "Bank"; }',
    'require "fileinto";\nif address :localpart :contains ["to", "cc"] "team" '
    '{ fileinto "Team"; }',
    'require "fileinto";\nif address :all :comparator "i;octet" :is "from" '
    '"chef@Remote.Example" { fileinto "Exact"; }',
    'require "fileinto";\nif exists ["list-id"] { fileinto "Lists"; }',
    'require "fileinto";\nif not exists "from" { fileinto "NoFrom"; }',
    'require "fileinto";\nif size :over 2K { fileinto "Big"; } elsif size :under 200 '
    '{ fileinto "Tiny"; }',
    'require "fileinto";\nif allof (header :contains "from" "chef", header :contains "subject" '
    '"Rechnung") { fileinto "Both"; }',
    'require "fileinto";\nif anyof (header :contains "subject" "nope", exists "x-tag") '
    '{ fileinto "Any"; }',
    'require ["fileinto", "body"];\nif body :text :contains "unsubscribe" { fileinto "Ads"; }',
    'require ["fileinto", "body"];\nif body :contains "secretword" { fileinto "Attachment"; }',
    'require ["fileinto", "body"];\nif body :text :contains "büro" { fileinto "Büro"; }',
    'if header :contains "subject" "newsletter" { discard; stop; }\nkeep;',
    'redirect "archive@other.example";',
    'require "copy";\nredirect :copy "archive@other.example";',
    'require "fileinto";\nfileinto "A";\nfileinto "A";\nkeep;\nkeep;',
    'require "fileinto";\nif true { if false { discard; } else { fileinto "Nested"; stop; } }\n'
    'discard;',
    'require "fileinto";\nif header :is "subject" "" { fileinto "EmptySubject"; }',
    'require "fileinto";\nif header :contains "subject" "" { fileinto "HasSubject"; }',
]


def sieve_test_actions(directory: Path, script: str, message: bytes) -> tuple[set, set]:
    (directory / "script.sieve").write_text(script, encoding="utf-8")
    (directory / "message.eml").write_bytes(message)
    # Pigeonhole's defaults, not the host's Dovecot configuration (which nobody may not
    # read on a host where the service is deployed).
    (directory / "dovecot.conf").write_text(
        f"# sieve-test's own\nmail_location = maildir:{directory}/Maildir\n")
    for path in directory.iterdir():
        path.chmod(0o666)
    # sieve-test refuses to run as root; it compiles next to the script, in HOME.
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         "env", f"HOME={directory}", SIEVE_TEST, "-c", str(directory / "dovecot.conf"),
         str(directory / "script.sieve"), str(directory / "message.eml")],
        capture_output=True, text=True, timeout=30, check=False)
    assert "final result: success" in result.stdout + result.stderr, result
    folders, redirects = set(), set()
    for line in result.stdout.splitlines():
        if match := re.match(r"^ \* store message in folder: (.*)$", line):
            folders.add(match.group(1))
        elif match := re.match(r"^ \* redirect message to: <?([^>]*)>?$", line):
            redirects.add(match.group(1))
    return folders, redirects


@pytest.fixture(scope="module")
def workdir():
    """Outside pytest's own temporary directory, which only root may enter."""
    directory = Path(tempfile.mkdtemp(prefix="mailbasic-sieve-"))
    directory.chmod(0o777)
    yield directory
    shutil.rmtree(directory)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.splitlines()[-1][:40])
def test_mailbasic_does_what_pigeonhole_does(workdir, script):
    compiled = parse(script)
    for name, message in MESSAGES.items():
        expected = sieve_test_actions(workdir, script, message)
        delivery = evaluate(compiled, MessageFacts.parse(message))
        assert (set(delivery.folders), set(delivery.redirects)) == expected, name
