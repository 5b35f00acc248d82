"""How much CPU the virus stage spends reading a message's parts, on one thread: the MIME
structure (mailbasic.milter.mime), then every content of every part drained as clamd
reads it (decoded, raw when in doubt, inline files; mailbasic.milter.contents), over
milter_bench's mixed-size stream, beside plainly reading the same spool files. No
server: this is the milter's own share of a large message, apart from the scanners.

Run with `.venv/bin/python bench/parts_bench.py`; raw figures go to bench/results/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO

import engine_corpus
import results_file

from mailbasic.milter import mime
from mailbasic.milter.contents import contents


def read_plainly(spool: BinaryIO) -> int:
    spool.seek(0)
    return sum(len(chunk) for chunk in iter(lambda: spool.read(mime.READ_SIZE), b""))


def parse(spool: BinaryIO) -> int:
    return len(list(mime.parse(spool).leaves()))


def parse_and_drain(spool: BinaryIO) -> int:
    root = mime.parse(spool)
    return sum(len(chunk) for part in root.leaves() for content in contents(spool, part)
               for chunk in content.chunks)


def cpu_ms_per_message(read: Callable[[BinaryIO], int], spools: list[BinaryIO],
                       rounds: int) -> float:
    for spool in spools:        # warm: the page cache, the first imports
        read(spool)
    started = time.process_time()
    for _ in range(rounds):
        for spool in spools:
            read(spool)
    return (time.process_time() - started) * 1000 / (rounds * len(spools))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--messages", type=int, default=200)
    options.add_argument("--rounds", type=int, default=5)
    arguments = options.parse_args()
    stream = engine_corpus.mixed_stream(arguments.messages, contents="parts")
    spools = []
    for message in stream:
        spool = tempfile.TemporaryFile()
        spool.write(message)    # as the milter spools it: CRLF line ends
        spools.append(spool)
    results = {name: round(cpu_ms_per_message(read, spools, arguments.rounds), 3)
               for name, read in (("read plainly", read_plainly), ("MIME structure", parse),
                                  ("structure and every content", parse_and_drain))}
    mean_kb = sum(map(len, stream)) / len(stream) / 1024
    print(f"{len(stream)} messages of the mixed sizes (mean {mean_kb:.0f} KB), "
          f"{arguments.rounds} rounds, CPU ms per message on one thread:")
    for name, value in results.items():
        print(f"  {name:<32}{value:>8}")
    ratios = {"reading the parts / reading plainly":
              results["structure and every content"] / results["read plainly"]}
    for label, value in ratios.items():
        print(f"{label:<40}{value:>8.1f}")
    print(f"raw figures: {results_file.save('parts', arguments, results, ratios)}")


if __name__ == "__main__":
    main()
