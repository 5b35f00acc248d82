"""Follow Postfix's log file (maillog_file) as it grows, across rotations and restarts, so
that each complete line is read once: none lost, none twice.

read_batch returns complete lines and the Position just after them. The caller stores that
Position in the same database transaction as what it made of the lines; a follower created
from the stored Position goes on just after the last committed line. The caller should
also store a Position that changed without lines (the switch to a new file after a
rotation), or a restart warns about a file it has in fact finished.

Rotation must be by renaming: logrotate with `create` (and `delaycompress`, so that the
file last read is still there, uncompressed, as path.1 after a restart), or `postfix
logrotate` (path.YYYYMMDD-HHMMSS, gzipped a moment later). Not `copytruncate`: what the
writer appends between logrotate's copy and its truncation is in neither file read here.

While running, the follower keeps the file open and moves to a new file at `path` only
once the new file has data: the single writer (postlogd) has then reopened the log, so
the old file is complete; until then the writer may still append to the old one.
A follower that falls more than one rotation behind (or is down across two) reads the
file it was in and then the current one, not the ones rotated in between.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mailbasic.delivery")

# Bytes per read: a quarter MiB is about 1,500 Postfix lines for one system call.
CHUNK = 256 * 1024
# Longer lines are cut to this; Postfix's own are far shorter, so a longer one is garbage.
MAX_LINE = 64 * 1024
# The fingerprint covers at most this much of a file's start: enough to tell two log files
# apart (the first line alone has a timestamp, a process id and a queue id).
FINGERPRINT_BYTES = 1024
# Rotated files with these endings are compressed: their inode is a new one, never the
# inode of a file that was read, and their bytes are not the log's bytes.
COMPRESSED = (".gz", ".xz", ".bz2", ".zst")

_READ = os.O_RDONLY | os.O_CLOEXEC


@dataclass(frozen=True)
class Position:
    """Where the next line starts: just after a complete line of the file with this inode.

    The fingerprint (a hash of the file's first min(offset, 1 KiB) bytes) tells the file
    from another that has since been created with the same, reused inode number.
    """

    inode: int
    offset: int
    fingerprint: str


# Nothing opened yet (the file does not exist): a follower given it starts at the start.
# No real file has inode 0.
NO_FILE = Position(inode=0, offset=0, fingerprint="")


def rotated_files(path: Path) -> list[Path]:
    """Where rotation leaves the file before compressing it: logrotate's path.1 (and
    path.2, ... with nocompress), `postfix logrotate`'s path.YYYYMMDD-HHMMSS."""
    prefix = path.name + "."
    try:
        names = sorted(os.listdir(path.parent))
    except FileNotFoundError:
        return []
    return [path.parent / name for name in names
            if name.startswith(prefix) and not name.endswith(COMPRESSED)]


def end_position(path: Path) -> Position | None:
    """The Position after the last complete line now in the file, for a follower that is to
    read only what is written from now on (None if there is no file: read it all)."""
    try:
        fd = os.open(path, _READ)
    except FileNotFoundError:
        return None
    try:
        status = os.fstat(fd)
        end = status.st_size
        while end > 0:  # back to the last newline: a partial last line is read when complete
            start = max(0, end - CHUNK)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        return Position(status.st_ino, end, _fingerprint(_head(fd, end)))
    finally:
        os.close(fd)


class LogFollower:
    """Complete lines of a growing log file, in batches, from a Position on.

    Lines are decoded as UTF-8 with errors="replace": every line is then valid text for
    PostgreSQL and the parser, and nothing is lost that matters, since what was read is
    counted in bytes (the Position), never in decoded characters. Not thread-safe.
    """

    def __init__(self, path: Path, position: Position | None,
                 rotated: Callable[[Path], list[Path]] | None = None, *,
                 max_line: int = MAX_LINE, chunk: int = CHUNK) -> None:
        self._path = path
        self._rotated = rotated or rotated_files
        self._max_line = max_line
        self._chunk = chunk
        self._fd: int | None = None
        self._inode = 0
        self._offset = 0  # just after the last line returned
        self._read_at = 0  # where the next read starts
        self._buffer = b""  # what was read from offset on: lines not returned yet
        self._dropped = 0  # bytes left out of the buffer's first line, which is too long
        self._head = b""  # the file's first FINGERPRINT_BYTES, or what it has of them
        self._next: tuple[int, int] | None = None  # (fd, inode) of the file that follows
        if position is not None and position.inode != NO_FILE.inode:
            self._resume(position)

    @property
    def position(self) -> Position:
        """Just after the last line returned (NO_FILE while there is no file to read)."""
        if self._fd is None:
            return NO_FILE
        return Position(self._inode, self._offset, _fingerprint(self._head[:self._offset]))

    def read_batch(self, max_lines: int = 1000) -> tuple[list[str], Position]:
        """Up to max_lines complete lines (without their newline) from the position on, and
        the position after them; ([], the same position) when there is nothing new.

        A partial last line is left for a later call, except at the end of a file that has
        been rotated away, where it will never be completed.
        """
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        lines: list[bytes] = []
        looked = False
        while True:
            lines += self._take(max_lines - len(lines))
            if len(lines) >= max_lines:
                break
            if self._fill():
                continue
            # At the end of the open file.
            if self._next is not None:
                lines += self._switch()
            elif looked or not self._look_at_path():
                break  # one stat per call: what is written meanwhile is for the next call
            else:
                looked = True
        return self._decode(lines), self.position

    def close(self) -> None:
        for fd in (self._fd, self._next[0] if self._next else None):
            if fd is not None:
                os.close(fd)
        self._fd = self._next = None

    # -- reading the open file -------------------------------------------------------

    def _take(self, wanted: int) -> list[bytes]:
        """Up to `wanted` complete lines from the buffer (bytes.split: no loop in Python)."""
        lines = self._buffer.split(b"\n", wanted)
        rest = lines.pop()  # after the last newline split at: a partial line, or more lines
        if lines:
            self._offset += len(self._buffer) - len(rest) + self._dropped
            self._dropped = 0
            self._buffer = rest
        return lines

    def _fill(self) -> bool:
        """Read the next chunk into the buffer; False at the end of the file."""
        if self._fd is None:
            return False
        data = os.pread(self._fd, self._chunk, self._read_at)
        if not data:
            return False
        if len(self._head) < FINGERPRINT_BYTES:
            self._head += data[:FINGERPRINT_BYTES - len(self._head)]
        self._read_at += len(data)
        self._buffer += data
        if len(self._buffer) > self._max_line and b"\n" not in self._buffer:
            # A line this long is cut anyway: keep its start, count the rest for the offset.
            self._dropped += len(self._buffer) - self._max_line
            self._buffer = self._buffer[:self._max_line]
        return True

    def _decode(self, lines: list[bytes]) -> list[str]:
        if lines and max(map(len, lines)) > self._max_line:
            cut = sum(len(line) > self._max_line for line in lines)
            log.warning("%s: %d line(s) longer than %d bytes cut to that length",
                        self._path, cut, self._max_line)
            lines = [line[:self._max_line] for line in lines]
        return [line.decode("utf-8", "replace") for line in lines]

    # -- which file ------------------------------------------------------------------

    def _start(self, fd: int, inode: int, offset: int, head: bytes) -> None:
        self._fd, self._inode, self._offset, self._read_at = fd, inode, offset, offset
        self._buffer, self._dropped, self._head = b"", 0, head

    def _look_at_path(self) -> bool:
        """At the end of the open file: what is at `path` now? True if there is more to
        read (a new file, or the same one truncated)."""
        try:
            status = os.stat(self._path)
        except FileNotFoundError:
            return False  # renamed, not created again yet: the writer still has the old one
        if self._fd is not None and status.st_ino == self._inode:
            if status.st_size >= self._read_at:
                return False
            log.warning("%s was truncated (copytruncate?): reading it again from its start;"
                        " lines written between logrotate's copy and its truncation are lost"
                        " (rotate it with `create`, not `copytruncate`)", self._path)
            self._start(self._fd, self._inode, 0, b"")
            return True
        if self._fd is not None and status.st_size == 0:
            return False  # the writer has not reopened yet and may append to the old file
        try:
            fd = os.open(self._path, _READ)
        except FileNotFoundError:
            return False
        new = os.fstat(fd)  # what was opened, which a rotation just now may have changed
        if self._fd is None:
            self._start(fd, new.st_ino, 0, b"")
        elif new.st_ino != self._inode and new.st_size > 0:
            self._next = (fd, new.st_ino)  # read the old file to its end once more, then this
        else:
            os.close(fd)
            return False
        return True

    def _switch(self) -> list[bytes]:
        """The writer has moved to the next file, so the open one is complete: its partial
        last line (if any) will never be finished and is returned as it is."""
        assert self._fd is not None and self._next is not None
        last = [self._buffer] if self._buffer or self._dropped else []
        os.close(self._fd)
        fd, inode = self._next
        self._next = None
        self._start(fd, inode, 0, b"")
        return last

    def _resume(self, position: Position) -> None:
        """Open the file of the stored position: `path`, or a rotated file with its inode."""
        for candidate in [self._path, *self._rotated(self._path)]:
            try:
                if os.stat(candidate).st_ino != position.inode:
                    continue
                fd = os.open(candidate, _READ)
            except FileNotFoundError:
                continue
            status, head = os.fstat(fd), _head(fd, position.offset)
            if (status.st_ino == position.inode and status.st_size >= position.offset
                    and _fingerprint(head) == position.fingerprint):
                self._start(fd, position.inode, position.offset, head)
                return
            os.close(fd)  # truncated, or another file that reuses the inode number
        log.warning("%s: the file last read (inode %d, %d bytes in) is gone (compressed or"
                    " deleted by log rotation, truncated, or replaced): lines written to it"
                    " after that were not read; going on with %s from its start",
                    self._path, position.inode, position.offset, self._path)


def _head(fd: int, offset: int) -> bytes:
    return os.pread(fd, min(offset, FINGERPRINT_BYTES), 0)


def _fingerprint(head: bytes) -> str:
    return hashlib.blake2b(head, digest_size=8).hexdigest()
