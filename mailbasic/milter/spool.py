"""The message as received, in memory up to a threshold and in a temporary file beyond.

Stages run concurrently and each reads the message with a reader of its own, so no two
readers share a file position.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

SPOOL_PREFIX = "mailbasic-"


class Spool:
    def __init__(self, threshold: int, directory: str | None = None) -> None:
        self.threshold = threshold
        self.directory = directory
        self.size = 0
        self._memory = bytearray()
        self._disk: tuple[Path, BinaryIO] | None = None  # the file beyond the threshold

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._disk is None and len(self._memory) + len(data) <= self.threshold:
            self._memory += data
            return
        if self._disk is None:
            # The process in the name: a worker that dies leaves its files, which the
            # milter's supervisor removes by that prefix (milter/workers.py).
            handle, name = tempfile.mkstemp(prefix=spool_prefix(os.getpid()),
                                            dir=self.directory)
            self._disk = (Path(name), os.fdopen(handle, "wb"))
            self._disk[1].write(self._memory)
            self._memory = bytearray()
        self._disk[1].write(data)

    def reader(self) -> BinaryIO:
        if self._disk is None:
            return io.BytesIO(bytes(self._memory))
        path, file = self._disk
        file.flush()
        return open(path, "rb")

    @property
    def on_disk(self) -> bool:
        return self._disk is not None

    def close(self) -> None:
        if self._disk is not None:
            path, file = self._disk
            file.close()
            path.unlink(missing_ok=True)
            self._disk = None
        self._memory = bytearray()


def spool_prefix(pid: int) -> str:
    return f"{SPOOL_PREFIX}{pid}-"


def remove_left_by(directory: str, pid: int) -> int:
    """The spool files of a process that ended without closing them; how many."""
    removed = 0
    for leftover in Path(directory).glob(f"{spool_prefix(pid)}*"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed
