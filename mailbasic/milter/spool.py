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
        self._path: Path | None = None
        self._file: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is None and len(self._memory) + len(data) <= self.threshold:
            self._memory += data
            return
        if self._file is None:
            handle, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, dir=self.directory)
            self._path = Path(name)
            self._file = os.fdopen(handle, "wb")
            self._file.write(self._memory)
            self._memory = bytearray()
        self._file.write(data)

    def reader(self) -> BinaryIO:
        if self._file is None:
            return io.BytesIO(bytes(self._memory))
        self._file.flush()
        return open(self._path, "rb")

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._path.unlink(missing_ok=True)
            self._file, self._path = None, None
        self._memory = bytearray()
