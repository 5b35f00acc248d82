"""Where the milter's own CPU goes: py-spy samples the milter's processes (supervisor and
workers) while the benchmark sends load, and the samples are summed by what the product
does (each stage, each collecting callback, the log writers, libmilter's Python glue) and
by the functions that are on CPU themselves. py-spy reads the processes' memory from
outside (--nonblocking: it never stops them) and keeps only samples of the thread that
holds the interpreter lock (--gil): a thread waiting on a socket (clamd, rspamd, the
database) has let it go, so the samples are the Python CPU time that limits a process.

A separate pass from the measured ones: sampling costs some CPU itself."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 250      # samples per second per thread

# A frame as py-spy writes it with --function: "name (path:line)".
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*):\d+\)$")
STAGE = re.compile(r"mailbasic/milter/stages/(?P<stage>\w+)\.py$")
CALLBACKS = {"connect", "hello", "envfrom", "envrcpt", "header", "eoh", "body", "eom",
             "abort", "close"}


def available() -> bool:
    return Path(_py_spy()).exists()


def _py_spy() -> str:
    """The virtualenv's (make bench installs the bench extra: py-spy)."""
    return str(Path(sys.executable).with_name("py-spy"))


def start(pid: int, seconds: float, output: Path) -> subprocess.Popen:
    """Sample the process and its children for `seconds` into output (collapsed stacks)."""
    return subprocess.Popen([_py_spy(), "record", "--pid", str(pid), "--subprocesses",
                             "--nonblocking", "--gil", "--function", "--rate", str(RATE),
                             "--format", "raw", "--duration", str(int(seconds) + 1),
                             "-o", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def frames(stack: str) -> list[tuple[str, str]]:
    """(function, path) of each Python frame, outermost first."""
    found = []
    for frame in stack.split(";"):
        if match := FRAME.match(frame):
            found.append((match["function"], match["path"]))
    return found


def area(stack: list[tuple[str, str]]) -> str:
    """What the product is doing in this sample: the innermost stage, else the innermost
    milter callback, else the thread's own work (log writers, mailer)."""
    for _, path in reversed(stack):
        if match := STAGE.search(path):
            return f"stage {match['stage']}"
    for function, path in reversed(stack):
        if path.endswith("mailbasic/milter/app.py"):
            name = function.rsplit(".", 1)[-1]
            if name in CALLBACKS:
                return f"callback {name}"
    for _, path in reversed(stack):
        if module := mailbasic_module(path):
            return f"mailbasic: {module}"
    if any(path.endswith("Milter/__init__.py") for _, path in stack):
        return "pymilter glue"
    return "other (threads, interpreter)"


def mailbasic_module(path: str) -> str | None:
    """"milter/transactions" for .../mailbasic/milter/transactions.py (py-spy names a
    module by its code's file name, absolute or relative to where it was imported)."""
    match = re.search(r"(?:^|/)mailbasic/(?P<module>[\w/]+)\.py$", path)
    return match["module"] if match else None


def summarize(raw: Path, messages: int, top: int = 15) -> dict:
    """CPU ms per message by area and by the functions that were on CPU themselves."""
    by_area: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    others: Counter[str] = Counter()     # what "other" is: its stacks' innermost frames
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        parsed = frames(stack)
        if not parsed:
            continue
        total += count
        where = area(parsed)
        by_area[where] += count
        if where.startswith("other (") and len(others) < 10_000:
            others[" < ".join(name for name, _ in reversed(parsed[-4:]))] += count
        function, path = parsed[-1]
        by_function[f"{function} ({shorten(path)})"] += count

    def ms(samples: int) -> float:
        return round(samples * 1000 / RATE / max(messages, 1), 3)

    return {"samples": total, "cpu_ms_per_message": ms(total),
            "by_area": {name: ms(count) for name, count in by_area.most_common()},
            "self": {name: ms(count) for name, count in by_function.most_common(top)},
            "other_stacks": {name: ms(count) for name, count in others.most_common(5)}}


def shorten(path: str) -> str:
    if module := mailbasic_module(path):
        return f"{module}.py"
    for marker in ("/site-packages/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return Path(path).name


def print_summary(label: str, summary: dict) -> None:
    print(f"\nWhere {label}'s own CPU goes (py-spy, {summary['samples']} samples; "
          f"{summary['cpu_ms_per_message']} ms per message in all):")
    for name, value in summary["by_area"].items():
        print(f"  {name:<52}{value:>8} ms")
    if summary["other_stacks"]:
        print("  the other's stacks (innermost first):")
        for name, value in summary["other_stacks"].items():
            print(f"    {name[:70]:<70}{value:>8} ms")
    print("  on CPU themselves (top functions):")
    for name, value in summary["self"].items():
        print(f"    {name[:70]:<70}{value:>8} ms")
