"""Delivery record benchmark (issue 17 §5): three figures measured side by side in one run.

1. Reader throughput: lines/s of DeliveryLogReader.step (read, parse, store in PostgreSQL;
   default batch size) over --lines real Postfix lines (tests/unit/golden/postfix_log,
   repeated with fresh queue ids, pids and times), beside parsing alone.
2. Keeping up: a Postfix without milters or policy, delivering to discard:, takes a burst
   of --messages messages from smtp-source (one per connection) while `mailbasic
   delivery-log` follows its maillog_file from the start. Reported: the wall-clock time from
   the first message sent until the log holds every delivery line, the reader's lag after
   that until its stored position has passed the last one, and lag / write time.
3. Connection records: the mailbasic milter (instant stand-in scanners, as milter_bench's
   variant B) with log.connections on vs off, one message per SMTP connection, in rounds
   interleaved on/off to cancel drift. Target: on/off throughput >= 0.95.

Figures, never timed assertions; raw figures go to bench/results/delivery-log-*.json.
Needs root (Postfix, PostgreSQL): .venv/bin/python bench/delivery_log_bench.py
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import results_file
from milter_bench import (
    SENDER,
    Processes,
    ham,
    socket_directory,
    start_bench_postfix,
    start_milter,
)
from sqlalchemy import Engine, create_engine, func, select, text

from mailbasic import db
from mailbasic.config import Settings, render_settings
from mailbasic.delivery import postfix_log
from mailbasic.delivery.follow import LogFollower
from mailbasic.delivery.reader import DeliveryLogReader
from mailbasic.devstack import Stack
from mailbasic.devstack.layout import HOST, Ports
from mailbasic.devstack.process import accepts_connections, free_port, wait_until
from mailbasic.schema import DeliveryAttempt, MilterConnection, SmtpSession

BENCH = Path(__file__).parent
GOLDEN = BENCH.parent / "tests/unit/golden/postfix_log"
MAILBASIC = str(Path(sys.executable).with_name("mailbasic"))
RECIPIENT = "rcpt@bench.example"  # discarded by transport_maps: only Postfix's work counts
POLL = 0.02  # seconds between looks at the log file and the stored position


# -- 1. reader throughput ---------------------------------------------------------------

def golden_lines() -> tuple[list[str], set[str]]:
    """The golden files' real lines, and every queue id they mention."""
    lines = [line for path in sorted(GOLDEN.glob("*.log"))
             for line in path.read_text().splitlines()]
    ids = set()
    for event in map(postfix_log.parse, lines):
        ids.update(value for name in ("queue_id", "new_queue_id")
                   if (value := getattr(event, name, None)))
    return lines, ids


def write_synthetic_log(path: Path, count: int) -> None:
    """COUNT lines: the golden lines over and over, each repetition with fresh queue ids
    and pids (so sessions and deliveries are new rows, not updates of the same ones) and
    times running on at 20 lines a second, ending a day ago (so this year's date)."""
    lines, ids = golden_lines()
    token = re.compile(r"\b[0-9A-Za-z]{5,32}\b")
    service_pid = re.compile(r"\[(\d+)\]: ")
    numbers = itertools.count(0x10000000)
    pids = itertools.count(10000)
    start = datetime.now() - timedelta(days=1, seconds=count // 20)
    queue_ids: dict[str, str] = {}
    pid_map: dict[str, str] = {}

    def fresh_id(match: re.Match[str]) -> str:
        old = match[0]
        if old not in ids:
            return old
        if old not in queue_ids:  # same length and a valid queue id: hex digits
            queue_ids[old] = f"{next(numbers):0{len(old)}X}"
        return queue_ids[old]

    def fresh_pid(match: re.Match[str]) -> str:
        if match[1] not in pid_map:
            pid_map[match[1]] = str(next(pids))
        return f"[{pid_map[match[1]]}]: "

    with path.open("w") as out:
        for n in range(count):
            if n % len(lines) == 0:
                queue_ids.clear()
                pid_map.clear()
            line = lines[n % len(lines)]
            stamp = (start + timedelta(seconds=n // 20)).strftime("%b %d %H:%M:%S")
            rest = service_pid.sub(fresh_pid, token.sub(fresh_id, line[15:]), count=1)
            out.write(stamp + rest + "\n")


def parse_only(path: Path) -> dict:
    lines = path.read_text().splitlines()
    started = time.perf_counter()
    events = [postfix_log.parse(line) for line in lines]
    seconds = time.perf_counter() - started
    return {"lines": len(lines), "seconds": round(seconds, 3),
            "lines_per_second": round(len(lines) / seconds),
            "deliveries": sum(isinstance(event, postfix_log.Delivery) for event in events),
            "sessions": sum(isinstance(event, postfix_log.Connect) for event in events)}


def reader_throughput(settings: Settings, path: Path) -> dict:
    """The reader's own loop (follow()'s without the sleep), timed to the last batch."""
    reader = DeliveryLogReader(replace(settings, delivery_log_file=str(path)))
    position = reader.recorder.start()
    follower = LogFollower(reader.path, position)
    reader.stored = position
    transactions = write_transactions(settings)
    lines = batches = 0
    started = time.perf_counter()
    while read := reader.step(follower):
        lines += read
        batches += 1
    seconds = time.perf_counter() - started
    follower.close()
    with engine(settings).connect() as connection:
        rows = {"delivery_attempts": connection.scalar(
                    select(func.count()).select_from(DeliveryAttempt)),
                "smtp_sessions": connection.scalar(
                    select(func.count()).select_from(SmtpSession))}
    return {"lines": lines, "batches": batches,
            "batch_lines": settings.delivery_log_batch_lines,
            "seconds": round(seconds, 3), "lines_per_second": round(lines / seconds),
            "write_transactions": write_transactions(settings) - transactions - 1, **rows}


def write_transactions(settings: Settings) -> int:
    """The cluster's transaction counter: each writing transaction takes one id (and
    waits for its commit record on disk), so the difference tells how many the reader
    made; a statement run in autocommit mode is a transaction of its own."""
    with engine(settings).connect() as connection:
        return int(connection.scalar(text("SELECT pg_current_xact_id()::text::bigint")))


# -- the servers --------------------------------------------------------------------------

_engines: dict[str, Engine] = {}


def engine(settings: Settings) -> Engine:
    """The benchmark's own engine for a database, for its counts and looks."""
    url = str(settings.database_url)
    if url not in _engines:
        _engines[url] = create_engine(url, isolation_level="AUTOCOMMIT")
    return _engines[url]


def fresh_database(stack: Stack, name: str) -> Settings:
    """A database of its own, migrated: each measurement counts only its own rows."""
    settings = replace(stack.settings, database_url=stack.postgres.create_database(name))
    db.upgrade(settings)
    return settings


def start_postfix(root: Path, services: dict[int, str]) -> Path:
    """Postfix alone: everything for bench.example is delivered to discard:."""
    return start_bench_postfix(root, services,
                               "transport_maps = inline:{bench.example=discard:}\n")


def stop_postfix(etc: Path) -> None:
    subprocess.run(["postfix", "-c", str(etc), "stop"], capture_output=True)


def master_pid(etc: Path) -> int:
    return int((etc.parent / "postfix-queue/pid/master.pid").read_text())


def postmaster_pid(stack: Stack) -> int:
    return int((stack.postgres.data / "postmaster.pid").read_text().split()[0])


def smtp_source(port: int, messages: int, sessions: int, message: Path,
                log: Path) -> subprocess.Popen:
    """Postfix's own load generator (C, light on CPU): SESSIONS parallel connections,
    one message each, then a new connection; it stops at the first refusal."""
    with log.open("ab") as output:
        return subprocess.Popen(
            ["smtp-source", "-s", str(sessions), "-m", str(messages), "-F", str(message),
             "-M", "client.bench.example", "-f", SENDER, "-t", RECIPIENT,
             f"{HOST}:{port}"], stdin=subprocess.DEVNULL, stdout=output, stderr=output)


def finished(source: subprocess.Popen, log: Path) -> None:
    if source.wait() != 0:
        raise SystemExit(f"smtp-source failed ({source.returncode}):\n"
                         f"{log.read_text()[-2000:]}")


# -- where the CPU went -------------------------------------------------------------------

class CpuMeter:
    """CPU seconds of process trees (Postfix's master and all it started, PostgreSQL, ...),
    of reaped children (smtp-source), of this process, and of the whole machine, so that
    what else was running on the 2 cores shows as well."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.before = self.sample()

    def sample(self) -> dict[str, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        parent, used = {}, {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(stat.parent.name)
            # utime, stime and the same of reaped children: an smtpd that exits during
            # the run moves its time into master's
            parent[pid], used[pid] = int(fields[1]), sum(map(int, fields[11:15])) / ticks
        group_of = {pid: name for name, pid in self.roots.items()}
        totals = dict.fromkeys(self.roots, 0.0)
        for pid, seconds in used.items():
            ancestor = pid
            while ancestor not in group_of and ancestor in parent:
                ancestor = parent[ancestor]
            if ancestor in group_of:
                totals[group_of[ancestor]] += seconds
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        totals["load generator"] = children.ru_utime + children.ru_stime
        totals["this script"] = own.ru_utime + own.ru_stime
        busy = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
        totals["machine"] = (sum(busy) - busy[3] - busy[4]) / ticks  # all but idle, iowait
        return totals

    def used(self) -> dict[str, float]:
        after = self.sample()
        spent = {name: after[name] - self.before[name] for name in after}
        spent["other processes"] = spent.pop("machine") - sum(spent.values())
        return {name: round(seconds, 2) for name, seconds in spent.items()}


# -- 2. keeping up with Postfix alone ----------------------------------------------------

class DeliveryLines:
    """Counts the delivery lines in Postfix's log file as they are written, and notes the
    byte offset just after the WANTED-th."""

    def __init__(self, path: Path, wanted: int) -> None:
        self.path, self.wanted = path, wanted
        self.offset = self.lines = self.deliveries = 0  # complete lines read so far
        self.partial = b""
        self.end: int | None = None
        self.end_lines = 0  # lines up to end

    def read(self) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset + len(self.partial))
                data = self.partial + log.read()
        except FileNotFoundError:
            return
        complete, newline, self.partial = data.rpartition(b"\n")
        for line in complete.split(b"\n") if newline else []:
            self.offset += len(line) + 1
            self.lines += 1
            if b" postfix/discard[" in line and b" status=" in line:
                self.deliveries += 1
                if self.deliveries == self.wanted:
                    self.end, self.end_lines = self.offset, self.lines


def stored_offset(settings: Settings, path: Path) -> int:
    """How far the reader has stored: 0 before its first batch (or in another file)."""
    with engine(settings).connect() as connection:
        row = connection.execute(text(
            'SELECT inode, "offset" FROM log_positions WHERE source = :source'),
            {"source": str(path)}).one_or_none()
    return row.offset if row and row.inode == os.stat(path).st_ino else 0


def start_reader(processes: Processes, root: Path, settings: Settings) -> int:
    config = root / "delivery-log.toml"
    config.write_text(render_settings(settings))
    log = root / "delivery-log.log"
    reader = processes.start([MAILBASIC, "--config", str(config), "delivery-log"], log)
    wait_until(lambda: b"delivery-log: reading" in log.read_bytes(), what="delivery-log",
               timeout=30, log=log)
    return reader.pid


def keeping_up(arguments: argparse.Namespace, root: Path, stack: Stack,
               processes: Processes, message: Path) -> dict:
    directory = root / "postfix-alone"
    directory.mkdir()
    log = directory / "postfix.log"
    # As deployed: the local stack polls faster (0.1 s) for its tests' sake.
    settings = replace(fresh_database(stack, "bench_keeping_up"), delivery_log_file=str(log),
                       delivery_log_poll_seconds=Settings.delivery_log_poll_seconds)
    reader = start_reader(processes, root, settings)  # from the start, before Postfix
    port = free_port()
    etc = start_postfix(directory, {port: ""})
    try:
        wait_until(lambda: stored_offset(settings, log) > 0, what="the reader's first batch",
                   timeout=30)  # Postfix's start-up lines: the reader is following
        cpu = CpuMeter({"postfix": master_pid(etc), "postgres": postmaster_pid(stack),
                        "delivery-log reader": reader})
        burst = burst_and_lag(arguments, settings, log, port, message, root)
        burst["cpu_seconds"] = cpu.used()
    finally:
        stop_postfix(etc)
    with engine(settings).connect() as connection:
        burst["delivery_attempts_stored"] = connection.scalar(
            select(func.count()).select_from(DeliveryAttempt)
            .where(DeliveryAttempt.service == "postfix/discard"))
    burst["reader_poll_seconds"] = settings.delivery_log_poll_seconds
    burst["lag_per_write_time"] = round(burst["lag_s"] / burst["write_s"], 4)
    return burst


def burst_and_lag(arguments: argparse.Namespace, settings: Settings, log: Path, port: int,
                  message: Path, root: Path) -> dict:
    """Send the burst and watch, every POLL seconds, the log file (until it has every
    delivery line) and then the reader's stored position (until it has passed them)."""
    watch = DeliveryLines(log, arguments.messages)
    watch.read()
    first_line, first_byte = watch.lines, watch.offset  # the burst's lines are after
    deadline = time.perf_counter() + 120 + arguments.messages / 20
    started = time.perf_counter()
    source = smtp_source(port, arguments.messages, arguments.sessions, message,
                         root / "smtp-source-alone.log")
    sent = written = None
    backlog = 0  # the most bytes the reader was behind the file at a look
    while True:
        now = time.perf_counter()
        if sent is None and source.poll() is not None:
            finished(source, root / "smtp-source-alone.log")
            sent = now
        if watch.end is None:
            watch.read()
            written = now if watch.end is not None else None
        stored = stored_offset(settings, log)
        backlog = max(backlog, watch.offset - stored)
        if watch.end is not None and stored >= watch.end:
            break
        if now > deadline:
            raise SystemExit(f"burst unfinished: {watch.deliveries} delivery lines in the "
                             f"log, reader at byte {stored} of {watch.offset}")
        time.sleep(POLL)
    if sent is None:  # its last connection's QUIT may come after the last delivery
        finished(source, root / "smtp-source-alone.log")
        sent = time.perf_counter()
    assert written is not None
    lines = watch.end_lines - first_line
    return {"messages": arguments.messages, "sessions": arguments.sessions,
            "smtp_source_s": round(sent - started, 3),
            "write_s": round(written - started, 3),
            "log_lines_in_burst": lines,
            "log_lines_per_second": round(lines / (written - started)),
            "lag_s": round(now - written, 3),
            "max_backlog_kib": round(backlog / 1024, 1),
            # the same as the seconds Postfix took to write that much, at its burst's rate
            "max_backlog_s": round(backlog / (watch.end - first_byte) * (written - started), 3),
            "resolution_s": POLL}


# -- 3. the milter with connection records on vs off --------------------------------------

def start_standins(processes: Processes, root: Path) -> tuple[int, int, int]:
    spamd, clamd = free_port(), free_port()
    standins = processes.start([sys.executable, str(BENCH / "standins.py"), str(spamd),
                                str(clamd)], root / "standins.log")
    wait_until(lambda: accepts_connections(clamd), what="stand-ins", timeout=30)
    return spamd, clamd, standins.pid


def connection_records(arguments: argparse.Namespace, root: Path, stack: Stack,
                       processes: Processes, message: Path) -> dict:
    spamd, clamd, standins = start_standins(processes, root)
    base = replace(fresh_database(stack, "bench_milter"), spamd_port=spamd,
                   clamd_port=clamd, spamd_timeout=60, clamd_timeout=120)
    socket_directory(root)
    milters = {name: start_milter(processes, root, f"milter-{name}",
                                  replace(base, log_connections=name == "on"))
               for name in ("on", "off")}
    ports = {name: free_port() for name in milters}
    directory = root / "postfix-milter"
    directory.mkdir()
    etc = start_postfix(directory, {ports[name]: milters[name][1] for name in milters})
    roots = {"postfix": master_pid(etc), "postgres": postmaster_pid(stack),
             "stand-in scanners": standins,
             **{f"milter {name}": milters[name][0].pid for name in milters}}
    rounds: dict[str, list[dict]] = {"on": [], "off": []}
    try:
        for name in milters:  # warm up: processes, pools, caches
            send(ports[name], min(200, arguments.milter_messages), arguments, message, root)
        time.sleep(3)  # the warm-up's records flushed (every second) before the count
        with engine(base).connect() as connection:
            recorded_before = connection.scalar(
                select(func.count()).select_from(MilterConnection))
        for number in range(arguments.rounds):
            # on, off, then off, on: a drift over the run hits both alike
            for name in ("on", "off") if number % 2 == 0 else ("off", "on"):
                cpu = CpuMeter(roots)
                result = send(ports[name], arguments.milter_messages, arguments, message,
                              root)
                rounds[name].append({**result, "cpu_seconds": cpu.used()})
                print(f"  round {number + 1}, connection records {name}: "
                      f"{result['per_second']} msg/s", flush=True)
    finally:
        stop_postfix(etc)
    time.sleep(3)  # the writer thread flushes every second
    with engine(base).connect() as connection:
        recorded = connection.scalar(select(func.count()).select_from(MilterConnection))
    # Each round's on/off pair: their median shrugs off one round hit by a drift spike.
    pairs = [on["per_second"] / off["per_second"]
             for on, off in zip(rounds["on"], rounds["off"], strict=True)]
    return {"rounds": rounds, **{name: totals(rounds[name]) for name in rounds},
            "round_pair_ratios": [round(pair, 3) for pair in pairs],
            "connection_records_written": recorded - recorded_before,
            "messages_with_records_on": arguments.milter_messages * arguments.rounds}


def send(port: int, messages: int, arguments: argparse.Namespace, message: Path,
         root: Path) -> dict:
    log = root / f"smtp-source-{port}.log"
    started = time.perf_counter()
    finished(smtp_source(port, messages, arguments.sessions, message, log), log)
    seconds = time.perf_counter() - started
    return {"messages": messages, "seconds": round(seconds, 3),
            "per_second": round(messages / seconds, 1)}


def totals(rounds: list[dict]) -> dict:
    messages = sum(row["messages"] for row in rounds)
    seconds = sum(row["seconds"] for row in rounds)
    cpu: dict[str, float] = {}
    for row in rounds:
        for group, used in row["cpu_seconds"].items():
            cpu[group] = cpu.get(group, 0.0) + used
    return {"messages": messages, "seconds": round(seconds, 3),
            "per_second": round(messages / seconds, 1),
            "cpu_ms_per_message": {group: round(used * 1000 / messages, 2)
                                   for group, used in cpu.items()}}


# -- the run -----------------------------------------------------------------------------

def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--lines", type=int, default=200_000, help="reader throughput")
    options.add_argument("--messages", type=int, default=10_000, help="the Postfix burst")
    options.add_argument("--sessions", type=int, default=20,
                         help="parallel SMTP connections of smtp-source")
    options.add_argument("--milter-messages", type=int, default=1000,
                         help="per round of the milter on/off comparison")
    options.add_argument("--rounds", type=int, default=3, help="per milter variant")
    options.add_argument("--size", type=int, default=2048, help="message bytes")
    arguments = options.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mailbasic-delivery-bench-"))
    root.chmod(0o755)  # the servers run as their own users
    stack = Stack(root / "stack", Ports.free())
    processes = Processes()
    try:
        stack.prepare()
        stack.start_database()
        message = root / "message.txt"  # smtp-source adds the CRLFs
        message.write_bytes(ham(arguments.size).replace(b"\r\n", b"\n"))
        results = {}
        log = root / "synthetic.log"
        write_synthetic_log(log, arguments.lines)
        results["parse_only"] = parse_only(log)
        print(f"parse only: {results['parse_only']}", flush=True)
        results["reader"] = reader_throughput(fresh_database(stack, "bench_reader"), log)
        print(f"reader: {results['reader']}", flush=True)
        results["keeping_up"] = keeping_up(arguments, root, stack, processes, message)
        print(f"keeping up: {results['keeping_up']}", flush=True)
        results["connection_records"] = connection_records(arguments, root, stack,
                                                           processes, message)
        report(results, arguments)
    finally:
        processes.stop()
        for engine_ in _engines.values():
            engine_.dispose()
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict, arguments: argparse.Namespace) -> None:
    parse, reader = results["parse_only"], results["reader"]
    burst, milter = results["keeping_up"], results["connection_records"]
    ratios = {
        "reader / parse only, lines/s": round(
            reader["lines_per_second"] / parse["lines_per_second"], 3),
        "reader lines/s / Postfix's log lines/s in the burst": round(
            reader["lines_per_second"] / burst["log_lines_per_second"], 2),
        "reader lag / Postfix's write time of the burst": burst["lag_per_write_time"],
        "milter connection records on / off, msg/s (target >= 0.95)": round(
            milter["on"]["per_second"] / milter["off"]["per_second"], 3),
        "milter on / off, median of the rounds' pairs": round(
            statistics.median(milter["round_pair_ratios"]), 3),
    }
    print(f"\nreader: {reader['lines']:,} lines in {reader['seconds']} s: "
          f"{reader['lines_per_second']:,} lines/s (batches of {reader['batch_lines']}, "
          f"{reader['write_transactions']:,} write transactions); parse only "
          f"{parse['lines_per_second']:,} lines/s")
    print(f"Postfix alone, {burst['messages']:,} messages: all delivery lines in the log "
          f"after {burst['write_s']} s ({burst['log_lines_per_second']:,} lines/s); "
          f"reader stored them {burst['lag_s']} s later (poll {burst['reader_poll_seconds']}"
          f" s, resolution {burst['resolution_s']} s); {burst['delivery_attempts_stored']:,}"
          f" rows; at most {burst['max_backlog_s']} s of log behind during the burst")
    print(f"  CPU seconds in the burst: {burst['cpu_seconds']}")
    for name in ("on", "off"):
        row = milter[name]
        print(f"milter, connection records {name:<3}: {row['per_second']} msg/s "
              f"({row['messages']} messages); CPU ms/message {row['cpu_ms_per_message']}")
    print(f"  connection records written: {milter['connection_records_written']:,} "
          f"for {milter['messages_with_records_on']:,} messages with them on\n")
    for label, value in ratios.items():
        print(f"{label:<62}{value:>10}")
    print(f"\nraw figures: {results_file.save('delivery-log', arguments, results, ratios)}")


if __name__ == "__main__":
    main()
