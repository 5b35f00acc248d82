"""Webmail benchmark: --users mailboxes at once logging in to the webmail (SOGo, behind
the stack's nginx) and opening their inbox as SOGo's UI does, for --rounds rounds; in
the same run and with the same customers, the portal's pages (portal_bench's page loop)
as the yardstick.

Each mailbox holds --messages messages (appended over IMAP before anything is timed).
Opening the inbox is what SOGo's UI (UI/WebServerResources/js/Mailer/*.js) asks for:
the mail page (Mail/view), the account's mailbox list (Mailbox.$find: Mail/0/view), the
unseen counts (Account.refreshUnseenCount: Mail/unseenCount) and the inbox's list
(Mailbox.$filter: POST Mail/0/folderINBOX/view, which brings the first 100 messages'
headers along; Mailbox.$loadMessage asks for more with POST .../headers, only where the
inbox holds more than those). A user's round: log in (POST /SOGo/connect, a new
session), open the inbox, then open it again in that session; --warmup-rounds rounds
first are not counted. Each user has its own
kept-alive HTTPS connection. Reported: p50/p99 of "log in + open inbox" and of "open
inbox" (the second one), of each request, and of a portal page, with the ratios.

The mailbox password is bcrypt at --bcrypt-cost (the deployed cost): SOGo checks it on
its SQL user source at each login and Dovecot at its IMAP login (from its auth cache
after the first). SOGo runs --sogo-workers workers (the role's default).
Raw figures: bench/results/webmail-*.json.

Needs root (PostgreSQL, Dovecot, nginx, SOGo): .venv/bin/python bench/webmail_bench.py
"""

from __future__ import annotations

import argparse
import http.client
import imaplib
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path

import portal_bench
import results_file
from sqlalchemy import text

from mailbasic import accounts, audit, db
from mailbasic.devstack import Stack
from mailbasic.devstack.layout import HOST, Ports
from mailbasic.passwords import hash_password
from mailbasic.portal import credentials

DOMAIN = "webmail-bench.example"
MAILBOX_PASSWORD = "a long webmail bench secret"
HEADERS_BATCH = 100    # SOGo's headersPrefetchMaxSize and the UI's PRELOAD.SIZE
LOGIN_AND_OPEN, OPEN = "log in + open inbox", "open inbox"
STEPS = ("login (POST /SOGo/connect)", "mail page (Mail/view)", "mailbox list (Mail/0/view)",
         "unseen counts (Mail/unseenCount)", "inbox list (folderINBOX/view)",
         "more headers (folderINBOX/headers)")


class WebmailError(Exception):
    pass


class Browser:
    """One user's browser on the webmail: a kept-alive connection and its cookies."""

    def __init__(self, port: int, context: ssl.SSLContext, login: str) -> None:
        self.connection = http.client.HTTPSConnection(HOST, port, context=context,
                                                      timeout=120)
        self.login, self.cookies = login, {}
        self.steps: dict[str, list[float]] = {}

    def request(self, label: str, method: str, path: str,
                body: dict | None = None) -> bytes:
        headers = {"Accept": "application/json, text/plain, */*"}
        if body is not None:
            headers["Content-Type"] = "application/json;charset=utf-8"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if "XSRF-TOKEN" in self.cookies:
                headers["X-XSRF-TOKEN"] = self.cookies["XSRF-TOKEN"]
        started = time.perf_counter()
        self.connection.request(method, path, json.dumps(body).encode()
                                if body is not None else None, headers)
        response = self.connection.getresponse()
        answer = response.read()
        self.steps.setdefault(label, []).append(time.perf_counter() - started)
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.status != 200:
            raise WebmailError(f"{label}: {response.status} {answer[:200]!r}")
        return answer

    def log_in(self) -> None:
        self.cookies.clear()
        self.request(STEPS[0], "POST", "/SOGo/connect",
                     {"userName": self.login, "password": MAILBOX_PASSWORD})

    def open_inbox(self) -> int:
        """The UI's requests on opening the mail module at the inbox; the messages."""
        base = f"/SOGo/so/{self.login}/Mail"
        self.request(STEPS[1], "GET", f"{base}/view")
        self.request(STEPS[2], "GET", f"{base}/0/view")
        self.request(STEPS[3], "POST", f"{base}/unseenCount",
                     {"mailboxes": ["0/folderINBOX"]})
        listing = json.loads(self.request(STEPS[4], "POST", f"{base}/0/folderINBOX/view",
                                          {"sortingAttributes": {"sort": "arrival",
                                                                 "asc": 0}}))
        uids = listing.get("uids")
        if uids is None:
            raise WebmailError(f"inbox list without uids: {str(listing)[:200]}")
        loaded = max(len(listing.get("headers", [])) - 1, 0)  # first row: field names
        if len(uids) > loaded:
            self.request(STEPS[5], "POST", f"{base}/0/folderINBOX/headers",
                         {"uids": uids[loaded:loaded + HEADERS_BATCH]})
        return len(uids)


@dataclass
class Rounds:
    by_label: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    messages_seen: set[int] = field(default_factory=set)


def webmail_rounds(browsers: list[Browser], warmup: int,
                   rounds: int) -> tuple[Rounds, float]:
    """Every user's rounds at once, in a thread each, after `warmup` rounds not counted
    (SOGo makes a user's default folders and profile at the first login); (figures,
    wall-clock seconds of the counted rounds)."""
    merged = Rounds()
    lock = threading.Lock()
    start = threading.Barrier(len(browsers))
    measured = threading.Barrier(len(browsers) + 1)

    def user(browser: Browser) -> None:
        mine = Rounds()
        start.wait()
        for number in range(warmup + rounds):
            if number == warmup:
                browser.steps.clear()
                mine = Rounds()
                measured.wait()
            try:
                began = time.perf_counter()
                browser.log_in()
                mine.messages_seen.add(browser.open_inbox())
                middle = time.perf_counter()
                browser.open_inbox()
                ended = time.perf_counter()
            except (WebmailError, OSError, http.client.HTTPException, ValueError) as error:
                mine.errors.append(f"{browser.login}: {type(error).__name__}: {error}")
                browser.connection.close()   # reopened by the next request
                continue
            mine.by_label.setdefault(LOGIN_AND_OPEN, []).append(middle - began)
            mine.by_label.setdefault(OPEN, []).append(ended - middle)
        with lock:
            for label, values in mine.by_label.items():
                merged.by_label.setdefault(label, []).extend(values)
            merged.errors.extend(mine.errors)
            merged.messages_seen |= mine.messages_seen

    threads = [threading.Thread(target=user, args=(browser,)) for browser in browsers]
    for thread in threads:
        thread.start()
    measured.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for browser in browsers:
        for label, values in browser.steps.items():
            merged.by_label.setdefault(label, []).extend(values)
    return merged, seconds


def customers(stack: Stack, count: int, bcrypt_cost: int) -> list[str]:
    """COUNT customers, each with a mailbox (its password bcrypt at the deployed cost: one
    hash for all) and a portal password (cheapest cost: portal logins are not timed)."""
    settings = replace(stack.settings, bcrypt_cost=4)
    stored = hash_password(MAILBOX_PASSWORD, bcrypt_cost)
    names = [f"webmail{number:03d}" for number in range(count)]
    engine = db.make_engine(settings)
    try:
        with db.transaction(engine) as session:
            accounts.add_domain(session, settings, DOMAIN)
            for name in names:
                accounts.add_customer(session, settings, name, DOMAIN, MAILBOX_PASSWORD)
            session.flush()
            session.execute(text("UPDATE mailboxes SET password_hash = :stored"),
                            {"stored": stored})
            actor = audit.Actor("webmail benchmark", "127.0.0.1")
            for name in names:
                credentials.set_password(session, settings, actor, name,
                                         portal_bench.PASSWORD)
    finally:
        engine.dispose()
    return names


def fill(stack: Stack, context: ssl.SSLContext, login: str, messages: int) -> None:
    with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=context) as client:
        client.login(login, MAILBOX_PASSWORD)
        for number in range(messages):
            message = EmailMessage()
            message["From"] = f"Sender {number} <sender{number}@remote.example>"
            message["To"], message["Subject"] = login, f"Message {number} for the bench"
            message.set_content("A short message, as most are.\n" * 20)
            client.append("INBOX", None, None, message.as_bytes())


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--users", type=int, default=20)
    options.add_argument("--rounds", type=int, default=10)
    options.add_argument("--warmup-rounds", type=int, default=1, help="not counted")
    options.add_argument("--messages", type=int, default=5, help="per mailbox")
    options.add_argument("--bcrypt-cost", type=int, default=11,
                         help="the deployed cost (mailbox.bcrypt_cost)")
    options.add_argument("--sogo-workers", type=int, default=5,
                         help="sogod's workers (the sogo role's sogo_workers)")
    options.add_argument("--seconds", type=float, default=20.0,
                         help="measured time of the portal's pages")
    options.add_argument("--warmup", type=float, default=3.0,
                         help="seconds of the portal's pages not counted")
    arguments = options.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbasic-webmail-bench-"))
    root.chmod(0o755)   # the servers' own users reach their files below it
    # All users come from 127.0.0.1: counted by account only by the auth policy.
    stack = Stack(root / "stack", Ports.free(), auth_trusted_networks=("127.0.0.0/8",))
    stack.sogo.values["sogo_workers"] = arguments.sogo_workers
    try:
        stack.prepare()
        stack.start_database()
        for server in (stack.auth_policy, stack.dovecot, stack.managesieve, stack.portal,
                       stack.nginx, stack.sogo):
            server.launch()
            server.wait_ready()
        names = customers(stack, arguments.users, arguments.bcrypt_cost)
        logins = [f"{name}@{DOMAIN}" for name in names]
        context = ssl.create_default_context(cafile=str(stack.certificates.ca))
        for login in logins:
            fill(stack, context, login, arguments.messages)
        print(f"{len(logins)} mailboxes of {arguments.messages} messages; "
              f"{arguments.sogo_workers} SOGo workers; {os.cpu_count()} cores shared by "
              "SOGo, Dovecot, PostgreSQL, nginx, the portal and the clients", flush=True)
        browsers = [Browser(stack.ports.https, context, login) for login in logins]
        print(f"  webmail, {arguments.rounds} rounds after {arguments.warmup_rounds} "
              "not counted...", flush=True)
        webmail, webmail_seconds = webmail_rounds(browsers, arguments.warmup_rounds,
                                                  arguments.rounds)
        for browser in browsers:
            browser.connection.close()
        print("  portal pages, no pause...", flush=True)
        clients = [portal_bench.Client(stack.ports.https, context) for _ in names]
        mailboxes = [client.log_in(name) for client, name in zip(clients, names,
                                                                   strict=True)]
        portal = portal_bench.run_phase(
            [portal_bench.browse(client, mailbox, number, 0.0)
             for number, (client, mailbox) in enumerate(zip(clients, mailboxes,
                                                             strict=True))],
            arguments.warmup, arguments.seconds)
        for client in clients:
            client.connection.close()
        report(arguments, webmail, webmail_seconds, portal)
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


def report(arguments, webmail: Rounds, webmail_seconds: float,
           portal: portal_bench.Timings) -> None:
    summary = portal_bench.summary
    rows = {label: summary(webmail.by_label[label], webmail_seconds)
            for label in (LOGIN_AND_OPEN, OPEN, *STEPS) if label in webmail.by_label}
    pages = [value for values in portal.by_label.values() for value in values]
    rows["portal page"] = summary(pages, arguments.seconds)
    print(f"\n{'':<40}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, row in rows.items():
        print(f"  {label:<38}{row['requests']:>7}{row['p50_ms']:>9.1f}"
              f"{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}")
    page = rows["portal page"]
    ratios = {}
    for label in (LOGIN_AND_OPEN, OPEN):
        if label in rows:
            ratios[f"{label} p50 / portal page p50"] = round(
                rows[label]["p50_ms"] / page["p50_ms"], 1)
            ratios[f"{label} p99 / portal page p99"] = round(
                rows[label]["p99_ms"] / page["p99_ms"], 1)
    print()
    for label, value in ratios.items():
        print(f"{label:<48}{value:>10}")
    errors = webmail.errors + portal.errors
    if errors:
        print(f"errors: {len(errors)} (first: {errors[0]})")
    results = {"cpus": {"count": os.cpu_count()}, "webmail": rows,
               "webmail_wall_seconds": round(webmail_seconds, 2),
               "inbox_messages_seen": sorted(webmail.messages_seen),
               "portal_client_cpu_per_second": round(portal.client_cpu, 2),
               "errors": errors[:20], "error_count": len(errors)}
    print(f"\nraw figures: {results_file.save('webmail', arguments, results, ratios)}")


if __name__ == "__main__":
    main()
