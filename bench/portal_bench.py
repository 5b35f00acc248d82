"""Customer portal benchmark (issue 18): --sessions logged-in customers at once, each on
its own kept-alive HTTPS connection to the stack's nginx, browsing pages and saving
settings; in the same run and on the same connections, nginx alone serving a static file
of a page's size (/yardstick.html) as the yardstick.

A session's round, as a browser makes it: the overview, the mailbox's spam page, saving
its spam threshold (POST with the page's CSRF token, answered with a redirect), the spam
page again (where the redirect leads), the filters page, the mail log. Three phases of
--seconds each, after --warmup seconds not counted: the pages without any pause (closed
loop: the portal's limit), the pages with a pause of about --think seconds after each
answer (customers who read what they clicked), the static file without pause. Each
request is timed from sending it until its whole answer is read; the logins (bcrypt)
happen before.

Reported: requests/s, p50/p99/max by phase and by page, page/static ratios, and the CPU
the clients (this process's threads, on the same machine) used. Target: p99 <= 100 ms for
pages. Raw figures: bench/results/portal-*.json.

Needs root (PostgreSQL, nginx): .venv/bin/python bench/portal_bench.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlencode

import results_file

from mailbasic import audit, db
from mailbasic.config import render_settings
from mailbasic.devstack import Stack
from mailbasic.devstack.layout import HOST, Ports
from mailbasic.portal import credentials

MAILBASIC = str(Path(sys.executable).with_name("mailbasic"))
DOMAIN = "bench.example"
PASSWORD = "a long portal bench secret"
STATIC = "/yardstick.html"
TARGET_P99_MS = 100.0
# A session's round, in order (the labels of the figures).
PAGES = ("overview", "spam page", "save spam settings (POST)", "spam page after saving",
         "filters page", "mail log")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_MAILBOX = re.compile(r'href="/mailboxes/(\d+)"')


class Client:
    """One browser: a kept-alive HTTPS connection and its session cookie."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.connection = http.client.HTTPSConnection(HOST, port, context=context,
                                                      timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str,
                form: dict[str, str] | None = None) -> tuple[int, str, float]:
        """(status, body, seconds from sending until the body is read)."""
        headers = {"Accept-Language": "de-DE,de;q=0.9"}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read()
        seconds = time.perf_counter() - started
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text.decode(errors="replace"), seconds

    def log_in(self, name: str) -> int:
        """Logs in; returns the id of the customer's mailbox (from the overview)."""
        _, page, _ = self.request("GET", "/login")
        status, _, _ = self.request("POST", "/login", {
            "name": name, "password": PASSWORD, "csrf_token": token(page)})
        if status != 302:
            raise SystemExit(f"login of {name} answered {status}")
        status, overview, _ = self.request("GET", "/")
        found = _MAILBOX.search(overview)
        if status != 200 or found is None:
            raise SystemExit(f"the overview of {name} answered {status}")
        return int(found.group(1))


def token(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise SystemExit("a page without its CSRF token")
    return found.group(1)


class PhaseOver(Exception):
    """The phase's time is up: the session stops where it is."""


@dataclass
class Timings:
    """One session's request times by label, counted inside the phase's window (from the
    end of the warm-up to the phase's end, by when each answer was read)."""
    window: tuple[float, float] = (0.0, 0.0)
    by_label: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0     # CPU seconds the clients (this process) used per second

    def add(self, label: str, seconds: float) -> None:
        now = time.perf_counter()
        if now > self.window[1]:
            raise PhaseOver
        if now >= self.window[0]:
            self.by_label.setdefault(label, []).append(seconds)


def browse(client: Client, mailbox: int, number: int,
           think: float) -> Callable[[Timings], None]:
    """One round of a session's pages. After each answer the session pauses think
    seconds on average (0: at once)."""
    spam = f"/mailboxes/{mailbox}/spam"
    rounds = iter(range(10 ** 9))
    chance = random.Random(number)

    def pause() -> None:
        if think > 0:
            time.sleep(chance.uniform(0.5, 1.5) * think)

    def one_round(timings: Timings) -> None:
        def get(label: str, path: str) -> str:
            status, text, seconds = client.request("GET", path)
            if status != 200:
                timings.errors.append(f"{label}: {status}")
            timings.add(label, seconds)
            pause()
            return text

        get("overview", "/")
        page = get("spam page", spam)
        threshold = "5.0" if (next(rounds) + number) % 2 else "6.0"
        status, _, seconds = client.request("POST", spam, {
            "csrf_token": token(page), "enabled": "y", "threshold": threshold,
            "action": "folder"})
        if status not in (302, 303):
            timings.errors.append(f"save spam settings: {status}")
        timings.add("save spam settings (POST)", seconds)
        pause()
        get("spam page after saving", spam)
        get("filters page", f"/mailboxes/{mailbox}/filters")
        get("mail log", "/mail-log")
    return one_round


def static(client: Client) -> Callable[[Timings], None]:
    def one_round(timings: Timings) -> None:
        status, _, seconds = client.request("GET", STATIC)
        if status != 200:
            timings.errors.append(f"static: {status}")
        timings.add("static", seconds)
    return one_round


def run_phase(rounds: list[Callable[[Timings], None]], warmup: float,
              seconds: float) -> Timings:
    """Every session's rounds, in a thread each, for warm-up + seconds; the timings of
    the answers read in the last `seconds`, merged."""
    start = threading.Barrier(len(rounds) + 1)
    results = [Timings() for _ in rounds]

    def worker(one_round: Callable[[Timings], None], timings: Timings) -> None:
        start.wait()
        try:
            while True:
                one_round(timings)
        except PhaseOver:
            return
        except Exception as error:   # reported, not hidden: the figures would be wrong
            timings.errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=worker, args=pair)
               for pair in zip(rounds, results, strict=True)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    for timings in results:
        timings.window = (began + warmup, began + warmup + seconds)
    cpu = time.process_time()
    start.wait()
    for thread in threads:
        thread.join()
    merged = Timings(client_cpu=(time.process_time() - cpu) / (time.perf_counter() - began))
    for timings in results:
        for label, values in timings.by_label.items():
            merged.by_label.setdefault(label, []).extend(values)
        merged.errors.extend(timings.errors)
    return merged


def summary(values: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"requests": 0}

    def percentile(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
    return {"requests": len(ordered), "per_second": round(len(ordered) / seconds, 1),
            "p50_ms": round(percentile(0.50) * 1000, 2),
            "p99_ms": round(percentile(0.99) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2)}


def customers(stack: Stack, root: Path, count: int) -> list[str]:
    """COUNT customers with their mailbox (`mailbasic import`) and a portal password;
    bcrypt at its cheapest: the logins are not measured."""
    settings = replace(stack.settings, bcrypt_cost=4)
    config = root / "mailbasic.toml"
    config.write_text(render_settings(settings))
    config.chmod(0o600)
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("MAILBASIC_")}
    names = [f"bench{number:03d}" for number in range(count)]
    listing = root / "customers.jsonl"
    listing.write_text("".join(json.dumps({"customer": name, "domain": DOMAIN,
                                           "password": "a long mailbox secret"}) + "\n"
                               for name in names))
    for command in (["domain", "add", DOMAIN], ["import", str(listing)]):
        subprocess.run([MAILBASIC, "--config", str(config), *command], check=True,
                       capture_output=True, env=environment)
    engine = db.make_engine(settings)
    try:
        with db.transaction(engine) as session:
            actor = audit.Actor("portal benchmark", "127.0.0.1")
            for name in names:
                credentials.set_password(session, settings, actor, name, PASSWORD)
    finally:
        engine.dispose()
    return names


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--sessions", type=int, default=50)
    options.add_argument("--seconds", type=float, default=30.0,
                         help="measured time of each phase")
    options.add_argument("--warmup", type=float, default=3.0)
    options.add_argument("--think", type=float, default=1.0,
                         help="the second pages phase: a session's mean pause after each "
                              "answer, in seconds (uniform between half and 1.5 times it)")
    arguments = options.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbasic-portal-bench-"))
    root.chmod(0o755)   # nginx's workers (www-data) reach the portal's socket below it
    stack = Stack(root / "stack", Ports.free())
    try:
        stack.prepare()
        stack.start_database()
        for server in (stack.portal, stack.nginx):
            server.launch()
            server.wait_ready()
        names = customers(stack, root, arguments.sessions)
        context = ssl.create_default_context(cafile=str(stack.certificates.ca))
        clients = [Client(stack.ports.https, context) for _ in names]
        mailboxes = [client.log_in(name) for client, name in zip(clients, names, strict=True)]
        sessions = list(enumerate(zip(clients, mailboxes, strict=True)))
        print(f"{len(clients)} sessions logged in; each phase {arguments.seconds:.0f} s "
              f"after a {arguments.warmup:.0f} s warm-up", flush=True)
        phases = {}
        for name, rounds in (
                ("pages, no pause", [browse(client, mailbox, number, 0.0)
                                     for number, (client, mailbox) in sessions]),
                (f"pages, {arguments.think:g} s pauses",
                 [browse(client, mailbox, number, arguments.think)
                  for number, (client, mailbox) in sessions]),
                ("static file, no pause", [static(client) for client in clients])):
            print(f"  {name}...", flush=True)
            phases[name] = run_phase(rounds, arguments.warmup, arguments.seconds)
        for client in clients:
            client.connection.close()
        report(arguments, phases)
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


def report(arguments, phases: dict[str, Timings]) -> None:
    results: dict[str, dict] = {"cpus": {"count": os.cpu_count()}}
    errors: list[str] = []
    print(f"\n{'':<32}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    seconds = arguments.seconds
    for phase, timings in phases.items():
        every = [value for values in timings.by_label.values() for value in values]
        rows = {"all": summary(every, seconds)}
        if len(timings.by_label) > 1:
            rows.update({label: summary(timings.by_label[label], seconds)
                         for label in PAGES if label in timings.by_label})
        results[phase] = {**rows, "client_cpu_per_second": round(timings.client_cpu, 2),
                          "errors": timings.errors[:20], "error_count": len(timings.errors)}
        errors += timings.errors
        print(f"{phase} (clients' CPU: {timings.client_cpu:.2f} s/s)")
        for label, row in rows.items():
            print(f"  {label:<30}{row['requests']:>9}{row['per_second']:>9.1f}"
                  f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}")
    saturated, paused, fixed = (results[phase]["all"] for phase in phases)
    ratios = {
        "page p50 / static p50 (no pauses)": round(saturated["p50_ms"] / fixed["p50_ms"], 2),
        "page p99 / static p99 (no pauses)": round(saturated["p99_ms"] / fixed["p99_ms"], 2),
        "static req/s / page req/s (no pauses)": round(fixed["per_second"]
                                                       / saturated["per_second"], 2),
        f"page p99 ms, no pauses (target <= {TARGET_P99_MS:g})": saturated["p99_ms"],
        f"page p99 ms, {arguments.think:g} s pauses (target <= {TARGET_P99_MS:g})":
            paused["p99_ms"],
    }
    print()
    for label, value in ratios.items():
        print(f"{label:<48}{value:>10}")
    if errors:
        print(f"errors: {len(errors)} (first: {errors[0]})")
    print(f"\nraw figures: {results_file.save('portal', arguments, results, ratios)}")


if __name__ == "__main__":
    main()
