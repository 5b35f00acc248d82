"""Rules benchmark: the extra cost of the rules stage per message, with 50 filters per
mailbox and 10 recipient mailboxes, as a ratio to the milter's pipeline without rules.

Both variants run side by side in one process on the same messages: the milter's stages
(size; virus and spam against instant stand-in scanners, so what is measured is
mailbasic) without and with the rules stage, whose rules come from the real PostgreSQL
of a temporary stack (the cache warm, as in steady operation). Target: the rules stage
adds at most 2 ms per message (median).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from results_file import save

from mailbasic import db
from mailbasic.accounts import add_customer, add_domain
from mailbasic.devstack import HOST, Stack
from mailbasic.devstack.layout import Ports
from mailbasic.devstack.process import accepts_connections, free_port, wait_until
from mailbasic.milter.message import Client, Message
from mailbasic.milter.spool import Spool
from mailbasic.milter.stages import DEFAULT_ORDER, Pipeline
from mailbasic.rules import service

DOMAIN = "bench.example"


def fifty_filters(number: int) -> str:
    """50 filters of every kind of test, none of which matches the benchmark's message
    except the last, so every recipient runs through all of them."""
    lines = ['require ["fileinto", "body", "regex"];']
    kinds = [
        'header :contains "subject" "invoice {n}"',
        'address :is "from" "sender{n}@remote.example"',
        'header :matches "x-campaign" "*promo{n}*"',
        'address :domain :is "to" "list{n}.example"',
        'header :regex "subject" "^order [0-9]+-{n}$"',
    ]
    for n in range(49):
        lines.append(f"if {kinds[n % len(kinds)].format(n=n)} {{ fileinto \"Folder {n}\"; }}")
    lines.append(f'if header :contains "subject" "weekly report" '
                 f'{{ fileinto "Reports {number}"; }}')
    return "\n".join(lines) + "\n"


def message(recipients: list[str], threshold: int) -> Message:
    raw = (b"From: Someone <someone@remote.example>\r\nTo: team@" + DOMAIN.encode()
           + b"\r\nSubject: weekly report\r\nMessage-ID: <bench@remote.example>\r\n"
           b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n" + b"Figures attached.\r\n" * 60)
    spool = Spool(threshold)
    spool.write(raw)
    head = raw.split(b"\r\n\r\n", 1)[0]
    headers = [tuple(line.split(b": ", 1)) for line in head.split(b"\r\n")]
    return Message(queue_id="BENCH", client=Client("192.0.2.1", "remote.example"),
                   sender="<someone@remote.example>",
                   recipients=[f"<{recipient}>" for recipient in recipients],
                   headers=[(name.decode(), value) for name, value in headers], spool=spool,
                   body_offset=len(head) + 4)


def timings(pipeline: Pipeline, recipients: list[str], threshold: int, count: int) -> list:
    result = []
    for _ in range(count):
        current = message(recipients, threshold)
        started = time.perf_counter()
        outcomes = pipeline.run(current)
        result.append((time.perf_counter() - started) * 1000)
        assert not any(outcome.refusal for outcome in outcomes), outcomes
        current.spool.close()
    return result


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--messages", type=int, default=300)
    options.add_argument("--recipients", type=int, default=10)
    arguments = options.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbasic-rules-bench-"))
    root.chmod(0o755)
    stack = Stack(root / "stack", Ports.free())
    standins = None
    try:
        stack.prepare()
        stack.start_database()
        spamd_port, clamd_port = free_port(), free_port()
        standins = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("standins.py")), str(spamd_port),
             str(clamd_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: accepts_connections(clamd_port), what="stand-ins", timeout=30)
        settings = replace(stack.settings, spamd_host=HOST, spamd_port=spamd_port,
                           clamd_host=HOST, clamd_port=clamd_port, bcrypt_cost=4)
        recipients = create_mailboxes(settings, arguments.recipients)
        without = Pipeline(settings, order=tuple(g for g in DEFAULT_ORDER if g != ("rules",)))
        with_rules = Pipeline(settings)
        for pipeline in (without, with_rules):  # warm up: connections, caches
            timings(pipeline, recipients, settings.spool_threshold, 20)
        results = {"without_rules": [], "with_rules": []}
        for _ in range(arguments.messages // 50):  # interleaved: same conditions for both
            results["without_rules"] += timings(without, recipients,
                                                settings.spool_threshold, 50)
            results["with_rules"] += timings(with_rules, recipients,
                                             settings.spool_threshold, 50)
        report(results, arguments)
    finally:
        if standins:
            standins.terminate()
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


def create_mailboxes(settings, count: int) -> list[str]:
    engine = db.make_engine(settings)
    names = [f"bench{number:02d}.user" for number in range(count)]
    with db.transaction(engine) as session:
        add_domain(session, settings, DOMAIN)
        for number, name in enumerate(names):
            add_customer(session, settings, name, DOMAIN, "a long bench secret")
            service.set_filters(session, f"{name}@{DOMAIN}", fifty_filters(number))
    engine.dispose()
    return [f"{name}@{DOMAIN}" for name in names]


def report(results: dict[str, list[float]], arguments) -> None:
    summary = {name: {"median_ms": round(statistics.median(values), 3),
                      "p99_ms": round(sorted(values)[int(len(values) * 0.99) - 1], 3)}
               for name, values in results.items()}
    extra = summary["with_rules"]["median_ms"] - summary["without_rules"]["median_ms"]
    ratios = {"with/without": round(summary["with_rules"]["median_ms"]
                                    / summary["without_rules"]["median_ms"], 2),
              "extra_median_ms": round(extra, 3)}
    path = save("rules", arguments, summary, ratios)
    print(f"{arguments.recipients} recipients x 50 filters, {arguments.messages} messages")
    for name, figures in summary.items():
        print(f"  {name:14} median {figures['median_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms")
    print(f"  ratio with/without rules: {ratios['with/without']}  "
          f"extra per message (median): {extra:.3f} ms  (target <= 2 ms)")
    print(f"raw figures: {path}")


if __name__ == "__main__":
    main()
