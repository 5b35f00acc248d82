"""CLI benchmark: startup of `mailbasic --help` and of a database command (`domain list`)
beside the bare interpreter (`python -c pass`), in one run; then `mailbasic import` of
1,000 customers against as many `mailbasic customer add` calls.

Targets (issue 16): `--help` within 0.15 s of the bare interpreter, `domain list` within
0.4 s (medians). The database is a temporary stack's PostgreSQL; passwords are hashed at
the configured bcrypt cost (11 unless --bcrypt-cost says otherwise), by both ways alike.
Bytecode is cached, as in an installation (in the benchmark's temporary directory).
The `customer add` calls are CALLS real calls, extrapolated to CUSTOMERS (said so in the
output). Run with `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import results_file

from mailbasic.config import render_settings
from mailbasic.devstack import Stack
from mailbasic.devstack.layout import Ports

MAILBASIC = str(Path(sys.executable).with_name("mailbasic"))
PASSWORD = "a long bench secret"


def timed(command: list[str], stdin: str | None = None,
          environment: dict | None = None) -> float:
    started = time.perf_counter()
    finished = subprocess.run(command, input=stdin, capture_output=True, text=True,
                              env=environment)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({finished.returncode}):\n"
                         f"{finished.stderr}")
    return seconds


def startup(config: Path, runs: int, environment: dict) -> dict[str, dict]:
    """Each command RUNS times, interleaved, so all see the same machine."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "mailbasic --help": [MAILBASIC, "--help"],
        "mailbasic domain list": [MAILBASIC, "--config", str(config), "domain", "list"],
    }
    for command in commands.values():  # warm the page and bytecode caches
        timed(command, environment=environment)
        timed(command, environment=environment)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            seconds[name].append(timed(command, environment=environment))
    return {name: {"median_s": round(statistics.median(values), 4),
                   "min_s": round(min(values), 4), "runs": len(values)}
            for name, values in seconds.items()}


def import_file(path: Path, customers: int, domain: str) -> None:
    with path.open("w") as out:
        for number in range(customers):
            out.write(json.dumps({"customer": f"import{number:05d}", "domain": domain,
                                  "password": PASSWORD}) + "\n")


def provisioning(config: Path, root: Path, customers: int, calls: int,
                 environment: dict) -> dict[str, dict]:
    path = root / "customers.jsonl"
    import_file(path, customers, "import.example")
    started = time.perf_counter()
    finished = subprocess.run([MAILBASIC, "--config", str(config), "import", str(path)],
                              capture_output=True, text=True, env=environment)
    import_seconds = time.perf_counter() - started
    if finished.returncode != 0 or not finished.stdout.endswith(
            f"{customers} customers created, 0 refused\n"):
        raise SystemExit(f"the import failed ({finished.returncode}):\n"
                         f"{finished.stderr[-2000:]}")
    add_seconds = [timed([MAILBASIC, "--config", str(config), "customer", "add",
                          f"single{number:05d}", "--domain", "single.example",
                          "--password-stdin"], stdin=PASSWORD + "\n",
                         environment=environment)
                   for number in range(calls)]
    per_call = statistics.mean(add_seconds)
    return {
        "import": {"customers": customers, "seconds": round(import_seconds, 2),
                   "per_customer_ms": round(import_seconds / customers * 1000, 2),
                   "hashing_processes": os.cpu_count()},
        "customer add": {"calls_measured": calls, "seconds_measured": round(sum(add_seconds), 2),
                         "per_call_ms": round(per_call * 1000, 1),
                         "median_call_ms": round(statistics.median(add_seconds) * 1000, 1),
                         f"extrapolated_seconds_for_{customers}": round(per_call * customers, 1)},
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=21, help="startup runs per command")
    options.add_argument("--customers", type=int, default=1000)
    options.add_argument("--calls", type=int, default=50,
                         help="real `customer add` calls, extrapolated to --customers")
    options.add_argument("--bcrypt-cost", type=int, default=None,
                         help="default: the configuration's default (11)")
    arguments = options.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbasic-cli-bench-"))
    root.chmod(0o755)
    stack = Stack(root / "stack", Ports.free())
    try:
        stack.prepare()
        stack.start_database()
        settings = stack.settings
        if arguments.bcrypt_cost:
            settings = replace(settings, bcrypt_cost=arguments.bcrypt_cost)
        config = root / "mailbasic.toml"
        config.write_text(render_settings(settings))
        # As installed: pip compiles the bytecode at install time. A checkout run with
        # PYTHONDONTWRITEBYTECODE (as some shells and CI set it) would compile every
        # mailbasic module on each call; the benchmark's bytecode goes to its own
        # directory instead, so it leaves nothing in the tree.
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith("MAILBASIC_")
                       and key != "PYTHONDONTWRITEBYTECODE"}
        environment["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        for domain in ("example.net", "import.example", "single.example"):
            timed([MAILBASIC, "--config", str(config), "domain", "add", domain],
                  environment=environment)
        results = startup(config, arguments.runs, environment)
        for name, row in results.items():
            print(f"{name:<24} median {row['median_s'] * 1000:7.1f} ms   "
                  f"min {row['min_s'] * 1000:7.1f} ms", flush=True)
        results.update(provisioning(config, root, arguments.customers, arguments.calls,
                                    environment))
        report(results, arguments, settings.bcrypt_cost)
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict, arguments, cost: int) -> None:
    bare = results["python -c pass"]["median_s"]
    help_ = results["mailbasic --help"]["median_s"]
    listing = results["mailbasic domain list"]["median_s"]
    imported = results["import"]["seconds"]
    customers = arguments.customers
    adds = results["customer add"][f"extrapolated_seconds_for_{customers}"]
    ratios = {
        "--help / python -c pass": round(help_ / bare, 2),
        "--help - python -c pass, s (target <= 0.15)": round(help_ - bare, 3),
        "domain list / python -c pass": round(listing / bare, 2),
        "domain list - python -c pass, s (target <= 0.4)": round(listing - bare, 3),
        f"{customers} customer adds (extrapolated) / import of {customers}":
            round(adds / imported, 2),
    }
    print(f"\nimport of {customers} customers (bcrypt cost {cost}, hashed in "
          f"{results['import']['hashing_processes']} processes): {imported:.1f} s "
          f"({results['import']['per_customer_ms']:.1f} ms per customer)")
    print(f"customer add: {arguments.calls} calls measured, "
          f"{results['customer add']['per_call_ms']:.0f} ms each; extrapolated to "
          f"{customers} calls: {adds:.0f} s")
    print()
    for label, value in ratios.items():
        print(f"{label:<58}{value:>10}")
    print(f"\nraw figures: {results_file.save('cli', arguments, results, ratios)}")


if __name__ == "__main__":
    main()
