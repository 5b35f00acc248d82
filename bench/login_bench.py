"""Login cost benchmark (issue 19): POP3 polls per second from --pollers simulated
phones, each polling in a loop (connect with implicit TLS, USER, PASS, STAT, QUIT), each
as its own mailbox, against one Dovecot of a local stack, in one run:

  floor         the same Dovecot with a passdb that costs nothing (static, any password)
  app password  the deployed passdbs; every poller logs in with an app password
                (SHA-256, found by the database)
  cached        the deployed passdbs; the mailbox password (bcrypt, cost --bcrypt-cost),
                verified once, then taken from Dovecot's auth cache (a SHA-1)
  bcrypt        the same with the auth cache off: bcrypt on every login

Between phases only the passdb (or the cache size) changes and Dovecot reloads; TLS,
POP3, the mailbox, the userdb and the auth policy stay. Reported: polls/s, p50/p99 of a
poll, each phase's ratio to the floor, and the CPU the clients (this process, on the
same machine) used. Target: app password or cached >= 0.8 of the floor.
Raw figures: bench/results/login-*.json.

Needs root (PostgreSQL, Dovecot): .venv/bin/python bench/login_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import secrets
import shutil
import ssl
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import results_file
from sqlalchemy import text

from mailbasic import accounts, db
from mailbasic.devstack import Stack
from mailbasic.devstack.layout import HOST, Ports
from mailbasic.passwords import hash_password

DOMAIN = "bench.example"
MAILBOX_PASSWORD = "a long mailbox bench secret"
TARGET = 0.8
FREE_PASSDB = ("passdb {\n  driver = static\n  args = nopassword=y\n}\n")


@dataclass
class Phase:
    polls: int = 0
    failures: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    client_cpu: float = 0.0


async def poll(port: int, context: ssl.SSLContext, user: str, password: str) -> None:
    reader, writer = await asyncio.open_connection(HOST, port, ssl=context,
                                                   server_hostname=HOST)
    try:
        await answer(reader)
        for command in (f"USER {user}", f"PASS {password}", "STAT", "QUIT"):
            writer.write(command.encode() + b"\r\n")
            await answer(reader)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ssl.SSLError, ConnectionError):
            pass   # the server closed first after QUIT


async def answer(reader: asyncio.StreamReader) -> None:
    line = await reader.readline()
    if not line.startswith(b"+OK"):
        raise RuntimeError(line.decode(errors="replace").strip() or "connection closed")


async def poller(port: int, context: ssl.SSLContext, user: str, password: str,
                 measure_from: float, until: float, phase: Phase) -> None:
    while (now := time.monotonic()) < until:
        try:
            await poll(port, context, user, password)
        except (OSError, RuntimeError, ssl.SSLError) as error:
            if now >= measure_from:
                phase.failures += 1
                if phase.failures == 1:
                    print(f"    first failure: {error}", flush=True)
            continue
        if now >= measure_from:
            phase.polls += 1
            phase.latencies.append(time.monotonic() - now)


async def run_phase(port: int, context: ssl.SSLContext, logins: list[tuple[str, str]],
                    warmup: float, seconds: float) -> Phase:
    # Each login once before the clock runs: the cached phase measures the cache, not
    # its filling (200 bcrypt checks take longer than any warm-up).
    await asyncio.gather(*(poll(port, context, user, password) for user, password in logins),
                         return_exceptions=True)
    phase = Phase()
    started = time.monotonic()
    cpu = time.process_time()
    measure_from, until = started + warmup, started + warmup + seconds
    await asyncio.gather(*(poller(port, context, user, password, measure_from, until, phase)
                           for user, password in logins))
    phase.seconds = seconds
    phase.client_cpu = time.process_time() - cpu
    return phase


def mailboxes(stack: Stack, count: int, bcrypt_cost: int) -> list[tuple[str, str, str]]:
    """COUNT mailboxes, each with the mailbox password (bcrypt at the deployed cost) and
    an app password for POP3: (login, mailbox password, app password)."""
    settings = replace(stack.settings, bcrypt_cost=4)
    stored = hash_password(MAILBOX_PASSWORD, bcrypt_cost)  # one real hash for all
    engine = db.make_engine(settings)
    logins = []
    try:
        with db.transaction(engine) as session:
            accounts.add_domain(session, settings, DOMAIN)
            for number in range(count):
                name = f"poller{number:03d}"
                accounts.add_customer(session, settings, name, DOMAIN, MAILBOX_PASSWORD)
                logins.append((f"{name}@{DOMAIN}", MAILBOX_PASSWORD,
                               "-".join(secrets.token_hex(4) for _ in range(4))))
            session.execute(text("UPDATE mailboxes SET password_hash = :stored"),
                            {"stored": stored})
            session.flush()
            for login, _, app_password in logins:
                session.execute(text(
                    "INSERT INTO app_passwords (mailbox_id, name, secret_sha256, protocols)"
                    " SELECT mailbox_id, 'bench phone', :digest, '{pop3}'"
                    " FROM dovecot_passwords WHERE username = :login"),
                    {"digest": hashlib.sha256(app_password.encode()).hexdigest(),
                     "login": login})
    finally:
        engine.dispose()
    return logins


class DovecotSwitch:
    """Changes the one thing a phase measures in the stack's Dovecot, then reloads it."""

    def __init__(self, stack: Stack, context: ssl.SSLContext,
                 probe: tuple[str, str]) -> None:
        self.stack, self.context, self.probe = stack, context, probe
        self.auth_conf = stack.dovecot.directory / "auth-mailbasic.conf.ext"
        self.deployed_auth = self.auth_conf.read_text()
        self.dovecot_conf = stack.dovecot.config
        self.deployed_conf = self.dovecot_conf.read_text()

    def free_passdb(self) -> None:
        userdb = self.deployed_auth[self.deployed_auth.index("userdb {"):]
        self.auth_conf.write_text(FREE_PASSDB + userdb)
        self._reload()

    def deployed(self, cache: bool = True) -> None:
        self.auth_conf.write_text(self.deployed_auth)
        conf = self.deployed_conf
        if not cache:
            conf = re.sub(r"(?m)^auth_cache_size = .*$", "auth_cache_size = 0", conf)
        self.dovecot_conf.write_text(conf)
        self._reload()

    def _reload(self) -> None:
        self.stack.dovecot.doveadm("reload")
        time.sleep(1.0)   # the old processes finish; then wait for the new auth process
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                asyncio.run(poll(self.stack.ports.pop3s, self.context, *self.probe))
                return
            except (OSError, RuntimeError, ssl.SSLError):
                time.sleep(0.5)
        raise RuntimeError("Dovecot answers no login after its reload")


def report(arguments: argparse.Namespace, phases: dict[str, Phase]) -> None:
    floor = phases["floor"].polls / phases["floor"].seconds
    results, ratios = {}, {}
    print(f"\n{arguments.pollers} pollers, {arguments.seconds:.0f} s per phase "
          f"(bcrypt cost {arguments.bcrypt_cost}):")
    print(f"  {'phase':<14}{'polls/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'fails':>7}"
          f"{'client CPU':>12}{'/ floor':>9}")
    for name, phase in phases.items():
        rate = phase.polls / phase.seconds
        ordered = sorted(phase.latencies) or [0.0]
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        share = phase.client_cpu / phase.seconds
        ratios[name] = round(rate / floor, 3) if floor else None
        results[name] = {"polls_per_second": round(rate, 1), "p50_ms": round(p50, 1),
                         "p99_ms": round(p99, 1), "failures": phase.failures,
                         "client_cpu_cores": round(share, 2)}
        print(f"  {name:<14}{rate:>9.1f}{p50:>9.1f}{p99:>9.1f}{phase.failures:>7}"
              f"{share:>11.2f}c{ratios[name]:>9.3f}")
    best = max(ratios["app password"], ratios["cached"])
    verdict = "met" if best >= TARGET else "NOT met"
    print(f"  target: app password or cached >= {TARGET} of the floor: {verdict} "
          f"(best {best:.3f})")
    print(f"  raw figures: {results_file.save('login', arguments, results, ratios)}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--pollers", type=int, default=200)
    options.add_argument("--seconds", type=float, default=20.0)
    options.add_argument("--warmup", type=float, default=3.0)
    options.add_argument("--bcrypt-cost", type=int, default=11,
                         help="the deployed cost (mailbox.bcrypt_cost)")
    arguments = options.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbasic-login-bench-"))
    root.chmod(0o755)   # the servers' own users (postgres, dovecot) reach their files
    # The simulated phones all come from 127.0.0.1, as no real deployment's would: that
    # address is counted by account only (auth_policy.trusted_networks), so one failed
    # poll among thousands cannot block the others. The policy is still asked each time.
    stack = Stack(root / "stack", Ports.free(), auth_trusted_networks=("127.0.0.0/8",))
    try:
        stack.prepare()
        stack.start_database()
        for server in (stack.auth_policy, stack.dovecot):
            server.launch()
            server.wait_ready()
        logins = mailboxes(stack, arguments.pollers, arguments.bcrypt_cost)
        context = ssl.create_default_context(cafile=str(stack.certificates.ca))
        switch = DovecotSwitch(stack, context, (logins[0][0], logins[0][1]))
        print(f"{len(logins)} mailboxes; {os.cpu_count()} cores shared by Dovecot, "
              f"PostgreSQL and the clients", flush=True)
        phases: dict[str, Phase] = {}
        for name, prepare, password_of in (
                ("floor", switch.free_passdb, lambda login: login[1]),
                ("app password", switch.deployed, lambda login: login[2]),
                ("cached", switch.deployed, lambda login: login[1]),
                ("bcrypt", lambda: switch.deployed(cache=False), lambda login: login[1])):
            print(f"  {name}...", flush=True)
            prepare()
            pairs = [(login[0], password_of(login)) for login in logins]
            phases[name] = asyncio.run(run_phase(stack.ports.pop3s, context, pairs,
                                                 arguments.warmup, arguments.seconds))
        report(arguments, phases)
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
