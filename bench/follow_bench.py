"""Log follower benchmark: lines per second of LogFollower.read_batch alone, over a file of
realistic Postfix lines (smtpd, cleanup, qmgr, smtp, lmtp), read from the page cache.

Writing the file is not timed, nor is any parsing: this is the ceiling the file-reading
part puts on the delivery-log daemon. Not part of `make bench`; run it by hand.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from mailbasic.delivery.follow import LogFollower

TEMPLATES = [
    "Nov 30 06:{m:02d}:{s:02d} mail postfix/smtpd[{pid}]: {qid}: client=mx{n}.remote.example"
    "[192.0.2.{b}]",
    "Nov 30 06:{m:02d}:{s:02d} mail postfix/cleanup[{pid}]: {qid}: message-id=<{n}.{qid}"
    "@remote.example>",
    "Nov 30 06:{m:02d}:{s:02d} mail postfix/qmgr[{pid}]: {qid}: from=<sender{n}@remote.example>,"
    " size={size}, nrcpt=1 (queue active)",
    "Nov 30 06:{m:02d}:{s:02d} mail postfix/smtp[{pid}]: {qid}: to=<user{n}@b.example>,"
    " relay=mx.b.example[198.51.100.{b}]:25, delay=0.{b}, delays=0.01/0.01/0.05/0.{b},"
    " dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {other})",
    "Nov 30 06:{m:02d}:{s:02d} mail postfix/lmtp[{pid}]: {qid}: to=<box{n}@example.net>,"
    " relay=mail.example.net[private/dovecot-lmtp], delay=0.{b}, delays=0.1/0/0/0.0{b},"
    " dsn=2.0.0, status=sent (250 2.0.0 <box{n}@example.net> Saved)",
    "Nov 30 06:{m:02d}:{s:02d} mail postfix/qmgr[{pid}]: {qid}: removed",
]


def write_log(path: Path, count: int) -> int:
    rng = random.Random(17)
    with open(path, "w") as file:
        for n in range(count):
            qid = f"{rng.getrandbits(40):010X}"
            file.write(rng.choice(TEMPLATES).format(
                m=n // 60000 % 60, s=n // 1000 % 60, pid=rng.randint(1000, 99999), qid=qid,
                n=n, b=rng.randint(1, 254), size=rng.randint(800, 90000),
                other=f"{rng.getrandbits(40):010X}") + "\n")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=1000, help="max_lines per read_batch")
    parser.add_argument("--runs", type=int, default=3, help="the best run is reported")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "postfix.log"
        size = write_log(path, arguments.lines)
        best = float("inf")
        for _ in range(arguments.runs):
            follower = LogFollower(path, None)
            started = time.perf_counter()
            read = 0
            while lines := follower.read_batch(arguments.batch)[0]:
                read += len(lines)
            best = min(best, time.perf_counter() - started)
            follower.close()
            assert read == arguments.lines, (read, arguments.lines)
    print(f"{arguments.lines:,} lines ({size / 2**20:.1f} MiB), read_batch({arguments.batch}):"
          f" {best:.3f} s, {arguments.lines / best:,.0f} lines/s,"
          f" {size / 2**20 / best:.0f} MiB/s (best of {arguments.runs})")


if __name__ == "__main__":
    main()
