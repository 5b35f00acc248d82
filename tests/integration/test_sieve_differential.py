"""Differential test: every script of the corpus on every message, run by Dovecot
Pigeonhole's real `sieve-test` and by mailbasic; both must do the same (the folders the
message is stored in, the addresses it is redirected to, the vacation replies and
notifications sent).

sieve-test cannot run with the null envelope sender (its -f wants an address, and without
-f it takes one from the headers), so the envelope scripts run for a bounce through
Pigeonhole in Dovecot's own delivery agent, dovecot-lda -f "", which can."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest

from mailbasic.rules.evaluate import Envelope, MessageFacts, evaluate
from mailbasic.rules.notify import reason_not_to_notify
from mailbasic.rules.sieve import parse
from mailbasic.rules.vacation import Incoming, Vacation, reason_not_to_reply

SIEVE_TEST = shutil.which("sieve-test") or "/usr/bin/sieve-test"
DOVECOT_LDA = "/usr/lib/dovecot/dovecot-lda"
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


def run_sieve_test(directory: Path, script: str, message: bytes,
                   options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    (directory / "script.sieve").write_text(script, encoding="utf-8")
    (directory / "message.eml").write_bytes(message)
    # Pigeonhole's defaults, not the host's Dovecot configuration (which nobody may not
    # read on a host where the service is deployed).
    (directory / "dovecot.conf").write_text(
        f"# sieve-test's own\nmail_location = maildir:{directory}/Maildir\n")
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o666)
    # sieve-test refuses to run as root; it compiles next to the script, in HOME.
    # -C: a script rewritten within a second must not run as its predecessor's binary.
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         "env", f"HOME={directory}", SIEVE_TEST, "-C", "-c", str(directory / "dovecot.conf"),
         *options, str(directory / "script.sieve"), str(directory / "message.eml")],
        capture_output=True, text=True, timeout=30, check=False)
    assert "final result: success" in result.stdout + result.stderr, result
    return result


def sieve_test_actions(directory: Path, script: str, message: bytes,
                       options: tuple[str, ...] = ()) -> tuple[set, set]:
    result = run_sieve_test(directory, script, message, options)
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


# -- envelope ----------------------------------------------------------------------------

ENVELOPES = {  # (MAIL FROM, RCPT TO); the messages' headers say otherwise on purpose
    "person": Envelope("Chef@Remote.Example", "dora+akten@rules.example"),
    "other": Envelope("news@letter.example", "Team@Rules.Example"),
    "bounce": Envelope("", "dora@rules.example"),
}

ENVELOPE_SCRIPTS = [f'require ["envelope", "fileinto"];\n{rule}' for rule in [
    'if envelope :is "from" "chef@remote.example" { fileinto "Chef"; }',
    'if envelope :all :comparator "i;octet" :is "from" "chef@remote.example" '
    '{ fileinto "Octet"; }',
    'if envelope :localpart :is "from" "chef" { fileinto "Local"; }',
    'if envelope :domain :contains "from" "remote" { fileinto "Remote"; }',
    'if envelope :all :matches "from" "*@*.example" { fileinto "Any"; }',
    'if envelope :matches "from" "?*" { fileinto "NotNull"; } else { fileinto "Null"; }',
    'if envelope :is "from" "" { fileinto "EmptyAll"; }',
    'if envelope :localpart :is "from" "" { fileinto "EmptyLocal"; }',
    'if envelope :domain :is "from" "" { fileinto "EmptyDomain"; }',
    'if envelope :contains "from" "" { fileinto "ContainsEmpty"; }',
    'if envelope :is "to" "dora+akten@rules.example" { fileinto "Akten"; }',
    'if envelope :localpart :matches "to" "dora+*" { fileinto "Detail"; }',
    'if envelope :domain :is "to" "rules.example" { fileinto "Ours"; }',
    'if envelope :all :contains "to" "team" { fileinto "Team"; }',
    'if envelope :is ["from", "to"] ["team@rules.example", "x@y.example"] { fileinto "Both"; }',
    'if not envelope :domain :is "from" "remote.example" { discard; }',
]]


def pigeonhole_folders(directory: Path, script: str, message: bytes,
                       envelope: Envelope) -> set[str]:
    """The folders Pigeonhole files MESSAGE into for ENVELOPE: sieve-test, or dovecot-lda
    for the null sender. The scripts here only file, so folders are all there is."""
    if envelope.sender:
        folders, _ = sieve_test_actions(directory, script, message,
                                        ("-f", envelope.sender, "-a", envelope.recipient))
        return folders
    return delivery_agent_folders(directory, script, message, envelope.recipient)


def delivery_agent_folders(directory: Path, script: str, message: bytes,
                           recipient: str) -> set[str]:
    maildir = directory / "lda" / "Maildir"
    shutil.rmtree(directory / "lda", ignore_errors=True)
    (directory / "lda").mkdir(mode=0o777)
    (directory / "lda").chmod(0o777)
    (directory / "lda" / "script.sieve").write_text(script, encoding="utf-8")
    (directory / "lda" / "lda.conf").write_text(
        f"mail_location = maildir:{maildir}\nmail_plugins = sieve\nprotocols =\n"
        "lda_mailbox_autocreate = yes\nlog_path = /dev/stderr\n"
        f"plugin {{\n  sieve = file:{directory}/lda/script.sieve\n}}\n")
    for path in (directory / "lda").iterdir():
        path.chmod(0o666)
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         "env", f"HOME={directory}/lda", "USER=nobody", DOVECOT_LDA,
         "-c", str(directory / "lda" / "lda.conf"), "-f", "", "-a", recipient, "-e"],
        input=message, capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result
    assert b"Execution of script" not in result.stderr, result  # it failed: keep only
    if not maildir.exists():
        return set()  # discarded: nothing was stored
    folders = {path.name[1:] for path in maildir.iterdir()
               if path.name.startswith(".") and any((path / "new").iterdir())}
    return folders | ({"INBOX"} if any((maildir / "new").iterdir()) else set())


@pytest.mark.skipif(not os.path.exists(DOVECOT_LDA), reason="dovecot-lda is missing")
@pytest.mark.parametrize("script", ENVELOPE_SCRIPTS,
                         ids=lambda script: script.splitlines()[-1][:40])
def test_envelope_tests_read_what_pigeonhole_reads(workdir, script):
    compiled = parse(script)
    for name, envelope in ENVELOPES.items():
        message = MESSAGES["plain"]
        expected = pigeonhole_folders(workdir, script, message, envelope)
        delivery = evaluate(compiled, MessageFacts.parse(message), envelope)
        assert set(delivery.folders) == expected, name


# -- vacation and notify in filters ------------------------------------------------------

BOSS = "boss@remote.example"
DORA = "dora@rules.example"
TO_DORA = (b"To: Dora <dora@rules.example>\r\nSubject: Frage\r\n"
           b"Message-ID: <v1@remote.example>\r\n")
REPLY_MESSAGES = {  # name: (envelope sender, message)
    "boss": (BOSS, b"From: Boss <boss@remote.example>\r\n" + TO_DORA + b"\r\nHallo?\r\n"),
    "other": ("someone@remote.example",
              b"From: someone@remote.example\r\n" + TO_DORA + b"\r\nHallo?\r\n"),
    "boss's list": (BOSS, b"From: boss@remote.example\r\nList-Id: <l.remote.example>\r\n"
                    + TO_DORA + b"\r\nAn alle\r\n"),
    "boss, no OOF": (BOSS, b"From: boss@remote.example\r\n"
                     b"X-Auto-Response-Suppress: DR, OOF\r\n" + TO_DORA + b"\r\nHallo\r\n"),
    "boss's robot": (BOSS, b"From: boss@remote.example\r\nAuto-Submitted: auto-generated\r\n"
                     + TO_DORA + b"\r\nReport\r\n"),
    "boss, bcc": (BOSS, b"From: boss@remote.example\r\nTo: team@rules.example\r\n"
                  b"Subject: Frage\r\n\r\nHallo\r\n"),
}
REPLY_SCRIPTS = [
    'require "vacation";\nif address :is "from" "boss@remote.example" '
    '{ vacation :days 3 :subject "Away" "I am away"; }',
    'require ["vacation", "envelope", "enotify"];\n'
    'if envelope :domain :is "from" "remote.example" {\n'
    '    if header :contains "from" "boss" { vacation "Back on Monday."; }\n'
    '    notify :message "Mail from remote" "mailto:dora@mobile.example";\n}',
]


def pigeonhole_sent(directory: Path, script: str, message: bytes,
                    sender: str) -> tuple[set, set]:
    """(vacation replies, notifications) sieve-test sends when it carries out the actions
    (-e): with every check Pigeonhole makes before it answers."""
    result = run_sieve_test(directory, script, message,
                            ("-e", "-f", sender, "-a", DORA, "-r", DORA))
    output = result.stdout + result.stderr
    return (set(re.findall(r"vacation action: sent vacation response to <([^>]*)>", output)),
            set(re.findall(r"notify action: sent mail notification to <([^>]*)>", output)))


def mailbasic_sent(script: str, message: bytes, sender: str) -> tuple[set, set]:
    delivery = evaluate(parse(script), MessageFacts.parse(message), Envelope(sender, DORA))
    incoming = Incoming.parse(sender, message)
    replies = {sender} if delivery.vacation and reason_not_to_reply(
        Vacation.of_filter(delivery.vacation), incoming, {DORA}, date.today()) is None else set()
    notified = set() if reason_not_to_notify(incoming) else \
        {notification.address for notification in delivery.notifications}
    return replies, notified


@pytest.mark.parametrize("script", REPLY_SCRIPTS, ids=["vacation", "vacation and notify"])
def test_vacation_and_notify_in_filters_answer_whom_pigeonhole_answers(workdir, script):
    for name, (sender, message) in REPLY_MESSAGES.items():
        expected = pigeonhole_sent(workdir, script, message, sender)
        assert mailbasic_sent(script, message, sender) == expected, name
    boss_replies, _ = mailbasic_sent(script, REPLY_MESSAGES["boss"][1], BOSS)
    assert boss_replies == {BOSS}  # the comparison compared something
