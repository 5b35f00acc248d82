"""`make soak`: mail under load while components are killed, restarted and frozen.

A stack of its own (free loopback ports, a temporary directory). Four senders send mixed
mail (plain, spam, a virus attachment) to four mailboxes, each message with a unique
Message-ID, for --minutes (10 by default), while a fault schedule kills and restarts
every daemon and server in turn and SIGSTOPs PostgreSQL, rspamd (the default spam
engine) and clamd for a while.

A ledger keeps every (Message-ID, recipient) with what SMTP answered and how long it took.
Afterwards the faults stop, the 4xx ones are sent again, and everything is reconciled
over IMAP. It fails (exit 1) unless:
- every recipient that got a 2xx has the message exactly once;
- no recipient that got only 4xx (before the retry) has it from that attempt;
- nothing arrived unscanned: every copy has X-Spam-Status, none carries EICAR;
- every 4xx came within the database deadline (plus slack) of the command;
- no fault ever drew a 5xx (nothing in this traffic deserves one).
Before reconciling, the queue is drained (postqueue -f until it is empty), so mail
deferred while Dovecot was down counts once delivered.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import imaplib
import itertools
import json
import os
import random
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from mailbasic.devstack import Stack
from mailbasic.devstack.clamd import EICAR
from mailbasic.devstack.layout import Ports
from tests.conftest import Cli
from tests.corpus import GTUBE

HOST = "127.0.0.1"
DOMAIN = "soak.example"
PASSWORD = "a long soaking secret"
MAILBOXES = [f"{name}.soak@{DOMAIN}" for name in ("anna", "bert", "cora", "dirk")]
SENDERS = [f"sender{number}@remote.example" for number in range(4)]
SLACK = 10.0   # Postfix's and the daemons' own work on top of the database deadline
_ids = itertools.count()


@dataclass
class Attempt:
    recipient: str
    code: int
    seconds: float
    retry: bool = False
    text: str = ""


@dataclass
class Ledger:
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, message_id: str, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.setdefault(message_id, []).append(attempt)


def build(message_id: str, sender: str, recipients: list[str], kind: str) -> bytes:
    body = {"plain": "An ordinary message.\r\n", "spam": GTUBE + "\r\n"}.get(kind, "See att.\r\n")
    head = (f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: soak {kind}\r\n"
            f"Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n")
    if kind != "virus":
        return (head + "Content-Type: text/plain\r\n\r\n" + body).encode()
    return (head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            "Content-Type: text/plain\r\n\r\nSee the attachment.\r\n--b\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=x.com\r\n\r\n").encode() + EICAR + \
        b"\r\n--b--\r\n"


def send(stack: Stack, ledger: Ledger, message_id: str, sender: str, recipients: list[str],
         kind: str, retry: bool = False) -> None:
    """One SMTP transaction; every recipient's answer goes into the ledger."""
    raw = build(message_id, sender, recipients, kind)
    started = time.monotonic()
    try:
        with smtplib.SMTP(HOST, stack.ports.smtp, timeout=120) as client:
            client.ehlo("mx.remote.example")
            code, text = client.mail(sender)
            if code != 250:   # e.g. a lookup of the sender's domain failed: all 4xx
                for recipient in recipients:
                    ledger.add(message_id, Attempt(recipient, code, time.monotonic() - started,
                                                   retry, text.decode(errors="replace")))
                return
            accepted = []
            for recipient in recipients:
                began = time.monotonic()
                code, text = client.rcpt(recipient)
                if code == 250:
                    accepted.append(recipient)
                else:
                    ledger.add(message_id, Attempt(recipient, code,
                                                   time.monotonic() - began, retry,
                                                   text.decode(errors="replace")))
            if not accepted:
                return
            began = time.monotonic()
            code, text = client.data(raw)
            for recipient in accepted:
                ledger.add(message_id, Attempt(recipient, code, time.monotonic() - began,
                                               retry, text.decode(errors="replace")))
    except (smtplib.SMTPException, OSError) as error:
        for recipient in recipients:   # no answer: as a sender would, count it as 4xx
            ledger.add(message_id, Attempt(recipient, 421, time.monotonic() - started,
                                           retry, f"no answer: {error}"))


def sender_loop(stack: Stack, ledger: Ledger, sender: str, until: float,
                kinds: dict[str, str], recipients_of: dict[str, list[str]]) -> None:
    rng = random.Random(sender)
    while time.monotonic() < until:
        message_id = f"soak.{next(_ids)}.{os.getpid()}@remote.example"
        recipients = rng.sample(MAILBOXES, rng.choice((1, 1, 2)))
        kind = rng.choices(("plain", "spam", "virus"), (8, 1, 1))[0]
        kinds[message_id], recipients_of[message_id] = kind, recipients
        send(stack, ledger, message_id, sender, recipients, kind)
        time.sleep(rng.uniform(0.05, 0.3))


def processes_of(pidfile: Path) -> list[int]:
    pid = int(pidfile.read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                              text=True).stdout.split()
    return [pid, *map(int, children)]


def fault_loop(stack: Stack, until: float, log: list[str]) -> None:
    """Each fault in turn, then a quiet spell: kill -9 and restart, or SIGSTOP for a
    while and SIGCONT."""
    restartable = {"milter": stack.milter, "policy": stack.policy, "lookups": stack.lookups,
                   "srs": stack.srs, "rspamd": stack.rspamd, "clamd": stack.clamd,
                   "dovecot": stack.dovecot, "postgres": stack.postgres}
    frozen = {"postgres": stack.postgres.data / "postmaster.pid",
              "rspamd": stack.rspamd.pidfile, "clamd": stack.clamd.pidfile}
    schedule = itertools.cycle([("kill", name) for name in restartable]
                               + [("freeze", name) for name in frozen])
    while time.monotonic() < until:
        action, name = next(schedule)
        log.append(f"{time.strftime('%T')} {action} {name}")
        if action == "kill":
            server = restartable[name]
            server.stop() if name in ("postgres", "dovecot") else _kill(server)
            time.sleep(2)
            server.launch()
            server.wait_ready()
        else:
            pids = processes_of(frozen[name])
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(15)
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        time.sleep(10)


def _kill(server) -> None:
    pidfile = server.pidfile
    for pid in processes_of(pidfile):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.5)


def log_in(client: imaplib.IMAP4_SSL, mailbox: str, patience: float = 60) -> None:
    """As a mail client does: again after a temporary failure. Dovecot's first lookup
    on a database connection that died in a fault answers [UNAVAILABLE], then it
    reconnects."""
    deadline = time.monotonic() + patience
    while True:
        try:
            client.login(mailbox, PASSWORD)
            return
        except imaplib.IMAP4.error as error:
            if b"[UNAVAILABLE]" not in str(error).encode() or time.monotonic() > deadline:
                raise
            time.sleep(1)


def delivered(stack: Stack, context: ssl.SSLContext) -> dict[str, dict[str, list[bytes]]]:
    """mailbox -> Message-ID -> the copies (INBOX and Spam)."""
    found: dict[str, dict[str, list[bytes]]] = {}
    for mailbox in MAILBOXES:
        copies: dict[str, list[bytes]] = {}
        with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=context) as client:
            log_in(client, mailbox)
            for folder in ("INBOX", "Spam"):
                client.select(folder, readonly=True)
                _, numbers = client.search(None, "ALL")
                for number in numbers[0].split():
                    _, parts = client.fetch(number, "(BODY.PEEK[])")
                    raw = parts[0][1]
                    message = email.message_from_bytes(raw, policy=email.policy.default)
                    copies.setdefault(str(message["Message-ID"]).strip("<>"), []).append(raw)
        found[mailbox] = copies
    return found


def drain(stack: Stack, seconds: float = 600) -> None:
    """Until Postfix's queue is empty: deliveries deferred while Dovecot was down are
    retried now (postqueue -f), not after the queue's backoff."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listing = subprocess.run(["postqueue", "-c", str(stack.postfix.config_directory),
                                  "-p"], capture_output=True, text=True).stdout
        if "Mail queue is empty" in listing:
            return
        subprocess.run(["postqueue", "-c", str(stack.postfix.config_directory), "-f"],
                       capture_output=True)
        time.sleep(5)


def reconcile(ledger: Ledger, found, deadline: float) -> list[str]:
    problems = []
    for message_id, attempts in ledger.attempts.items():
        for recipient in {attempt.recipient for attempt in attempts}:
            mine = [attempt for attempt in attempts if attempt.recipient == recipient]
            copies = found[recipient].get(message_id, [])
            accepted = [attempt for attempt in mine if attempt.code // 100 == 2]
            if accepted and len(copies) != 1:
                problems.append(f"{message_id} -> {recipient}: accepted "
                                f"{len(accepted)} time(s), delivered {len(copies)}")
            if not accepted and copies:
                problems.append(f"{message_id} -> {recipient}: delivered after only 4xx")
            for copy in copies:
                if b"X-Spam-Status:" not in copy or b"X5O!P%@AP" in copy:
                    problems.append(f"{message_id} -> {recipient}: delivered unscanned")
            slow = [attempt for attempt in mine if attempt.code // 100 == 4
                    and attempt.seconds > deadline + SLACK]
            problems += [f"{message_id} -> {recipient}: 4xx after {attempt.seconds:.1f} s"
                         for attempt in slow]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    arguments = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbasic-soak-"))
    failed = True
    stack = Stack(root, Ports.free(), database_deadline=5.0)
    try:
        stack.up()
        cli = Cli(replace(stack.settings, bcrypt_cost=4), root)
        cli.ok("domain", "add", DOMAIN)
        for mailbox in MAILBOXES:
            cli.ok("customer", "add", mailbox.split("@")[0], "--domain", DOMAIN,
                   "--password-stdin", input=PASSWORD + "\n")
        ledger, kinds, recipients_of, faults = Ledger(), {}, {}, []
        until = time.monotonic() + arguments.minutes * 60
        threads = [threading.Thread(target=sender_loop, args=(stack, ledger, sender, until,
                                                              kinds, recipients_of))
                   for sender in SENDERS]
        threads.append(threading.Thread(target=fault_loop, args=(stack, until, faults)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(15)  # everything restarted and settled
        first_pass = {message_id: list(attempts) for message_id, attempts
                      in ledger.attempts.items()}
        for message_id, attempts in first_pass.items():
            refused = sorted({attempt.recipient for attempt in attempts
                              if attempt.code // 100 == 4}
                             - {attempt.recipient for attempt in attempts
                                if attempt.code // 100 == 2})
            if refused:
                send(stack, ledger, message_id, "retry@remote.example", refused,
                     kinds[message_id], retry=True)
        drain(stack)   # the queue delivers what it accepted
        context = ssl.create_default_context(cafile=str(stack.certificates.ca))
        problems = reconcile(ledger, delivered(stack, context), stack.settings.database_deadline)
        answers = [attempt for attempts in ledger.attempts.values() for attempt in attempts]
        kinds_of_answer: dict[str, int] = {}
        for attempt in answers:
            if attempt.code // 100 != 2:
                key = f"{attempt.code} {attempt.text[:70]}"
                kinds_of_answer[key] = kinds_of_answer.get(key, 0) + 1
        slowest = max((attempt.seconds for attempt in answers if attempt.code // 100 == 4),
                      default=0.0)
        summary = {"minutes": arguments.minutes, "messages": len(ledger.attempts),
                   "answers": len(answers),
                   "2xx": sum(attempt.code // 100 == 2 for attempt in answers),
                   "4xx": sum(attempt.code // 100 == 4 for attempt in answers),
                   "5xx": sum(attempt.code // 100 == 5 for attempt in answers),
                   "slowest 4xx (s)": round(slowest, 1),
                   "answers other than 2xx": kinds_of_answer,
                   "faults": faults, "problems": len(problems),
                   "first problems": problems[:30]}
        print(json.dumps(summary, indent=2))
        failed = bool(problems) or summary["5xx"] > 0
        if failed:
            print(f"the stack's logs stay in {stack.layout.logs}")
        return 1 if failed else 0
    finally:
        stack.down()
        if not failed:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
