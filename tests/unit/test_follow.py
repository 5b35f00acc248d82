"""The log follower on real files: appends, partial lines, rotations while running and while
down, copytruncate, restarts at any line, long lines and bytes that are not UTF-8."""

from __future__ import annotations

import gzip
import logging
import os
import random
import shutil
from pathlib import Path

import pytest

from mailbasic.delivery.follow import (
    MAX_LINE,
    NO_FILE,
    LogFollower,
    Position,
    end_position,
    rotated_files,
)


class Writer:
    """The log's single writer, as postlogd: appends whole records to the file it opened,
    and goes on with that file after a rotation until it is told to reopen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "ab", buffering=0)  # kept open, as postlogd does

    def write(self, data: str | bytes) -> None:
        self.file.write(data.encode() if isinstance(data, str) else data)

    def reopen(self) -> None:
        self.file.close()
        self.file = open(self.path, "ab", buffering=0)

    def close(self) -> None:
        self.file.close()


def logrotate(path: Path) -> None:
    """Debian's logrotate with create + delaycompress: path.1 compressed to path.2.gz,
    path renamed to path.1, a new empty path. The writer is told to reopen separately."""
    one = path.with_name(path.name + ".1")
    if one.exists():
        with open(one, "rb") as source, gzip.open(path.with_name(path.name + ".2.gz"),
                                                   "wb") as target:
            shutil.copyfileobj(source, target)
        one.unlink()
    path.rename(one)
    path.touch()


def read_all(follower: LogFollower, max_lines: int = 1000) -> tuple[list[str], Position]:
    lines, position = follower.read_batch(max_lines)
    every = list(lines)
    while lines:
        lines, position = follower.read_batch(max_lines)
        every += lines
    return every, position


@pytest.fixture
def log(tmp_path):
    return tmp_path / "postfix.log"


@pytest.fixture
def writer(log):
    writer = Writer(log)
    yield writer
    writer.close()


def test_reads_what_is_there_then_what_is_appended(log, writer):
    writer.write("one\ntwo\n")
    follower = LogFollower(log, None)
    lines, position = follower.read_batch()
    assert lines == ["one", "two"]
    assert position == Position(os.stat(log).st_ino, 8, position.fingerprint)
    assert follower.read_batch() == ([], position)
    writer.write("three\n")
    assert follower.read_batch() == (["three"], follower.position)
    assert follower.position.offset == 14
    follower.close()


def test_max_lines_bounds_a_batch_and_the_rest_follows(log, writer):
    writer.write("".join(f"line {n}\n" for n in range(10)))
    follower = LogFollower(log, None)
    assert follower.read_batch(4)[0] == [f"line {n}" for n in range(4)]
    assert follower.read_batch(4)[0] == [f"line {n}" for n in range(4, 8)]
    assert follower.read_batch(4)[0] == ["line 8", "line 9"]
    follower.close()


def test_a_partial_line_waits_until_it_is_complete(log, writer):
    writer.write("whole\nhal")
    follower = LogFollower(log, None)
    lines, position = follower.read_batch()
    assert lines == ["whole"] and position.offset == 6
    writer.write("f of it")
    assert follower.read_batch() == ([], position)
    writer.write("\n")
    assert follower.read_batch()[0] == ["half of it"]
    follower.close()


def test_a_file_that_does_not_exist_yet_is_read_from_its_start_once_it_does(tmp_path):
    log = tmp_path / "postfix.log"
    follower = LogFollower(log, None)
    assert follower.read_batch() == ([], NO_FILE)
    log.write_text("first\n")
    assert follower.read_batch()[0] == ["first"]
    follower.close()


def test_rotation_while_running_reads_what_the_writer_adds_to_the_old_file(log, writer):
    writer.write("before 1\nbefore 2\n")
    follower = LogFollower(log, None)
    assert follower.read_batch()[0] == ["before 1", "before 2"]
    writer.write("not read before the rotation\n")
    logrotate(log)
    # The writer has not reopened yet: its lines go on into the renamed file, the last one
    # never finished (postlogd would not do that, but a crashed writer might).
    assert follower.read_batch()[0] == ["not read before the rotation"]
    writer.write("after the rename\nunfinished")
    assert follower.read_batch()[0] == ["after the rename"]  # the new file is still empty
    writer.reopen()
    writer.write("new 1\nnew 2\n")
    lines, position = follower.read_batch()
    assert lines == ["unfinished", "new 1", "new 2"]
    assert position.inode == os.stat(log).st_ino and position.offset == 12
    assert follower.read_batch() == ([], position)
    follower.close()


def test_postfix_logrotate_may_compress_the_renamed_file_before_it_is_finished(log, writer):
    writer.write("a\n")
    follower = LogFollower(log, None)
    assert follower.read_batch()[0] == ["a"]
    writer.write("b\nc\n")
    renamed = log.with_name(log.name + ".20261130-060000")
    log.rename(renamed)
    writer.reopen()  # postfix logrotate: rename, postfix reload, then gzip a moment later
    writer.write("d\n")
    renamed.unlink()  # gzip's end: the renamed file is gone, the open descriptor still reads
    assert read_all(follower)[0] == ["b", "c", "d"]
    follower.close()


def test_restart_after_a_rotation_finishes_the_rotated_file_then_reads_the_new_one(log, writer):
    writer.write("1\n2\n")
    follower = LogFollower(log, None)
    assert follower.read_batch()[0] == ["1", "2"]
    stored = follower.position
    follower.close()
    writer.write("3\n4\n")  # while down
    logrotate(log)
    writer.reopen()
    writer.write("5\n")
    follower = LogFollower(log, stored)
    lines, position = read_all(follower)
    assert lines == ["3", "4", "5"]
    assert position.inode == os.stat(log).st_ino
    follower.close()


def test_restart_after_a_rotation_waits_for_the_writer_before_leaving_the_old_file(log, writer):
    writer.write("1\n")
    stored = LogFollower(log, None).read_batch()[1]
    logrotate(log)
    writer.write("2\n")  # the writer has not reopened: the new file is empty
    follower = LogFollower(log, stored)
    assert read_all(follower)[0] == ["2"]
    writer.write("3\n")
    writer.reopen()
    writer.write("4\n")
    assert read_all(follower)[0] == ["3", "4"]
    follower.close()


def test_restart_when_the_rotated_file_is_compressed_warns_and_reads_the_new_file(
        log, writer, caplog):
    writer.write("1\n")
    stored = LogFollower(log, None).read_batch()[1]
    writer.write("2, never read\n")
    logrotate(log)
    writer.reopen()
    writer.write("3\n")
    logrotate(log)  # the first file is now postfix.log.2.gz
    writer.reopen()
    writer.write("4\n")
    with caplog.at_level(logging.WARNING, "mailbasic.delivery"):
        follower = LogFollower(log, stored)
    assert "is gone" in caplog.text
    assert read_all(follower)[0] == ["4"]
    follower.close()


def test_a_new_file_that_reuses_the_inode_number_is_read_from_its_start(log, writer, caplog):
    writer.write("a new file\n")
    reused = Position(os.stat(log).st_ino, 5, "0123456789abcdef")
    with caplog.at_level(logging.WARNING, "mailbasic.delivery"):
        follower = LogFollower(log, reused)
    assert "is gone" in caplog.text
    assert read_all(follower)[0] == ["a new file"]
    follower.close()


def test_copytruncate_reads_the_file_again_from_its_start_with_a_warning(log, writer, caplog):
    writer.write("old 1\nold 2\n")
    follower = LogFollower(log, None)
    assert follower.read_batch()[0] == ["old 1", "old 2"]
    shutil.copy(log, log.with_name(log.name + ".1"))
    os.truncate(log, 0)
    writer.write("new\n")  # O_APPEND: at the new end
    with caplog.at_level(logging.WARNING, "mailbasic.delivery"):
        lines, position = follower.read_batch()
    assert lines == ["new"] and position.offset == 4
    assert "truncated" in caplog.text
    follower.close()


def test_restarting_every_137_lines_reads_10000_lines_once_in_order(log, writer):
    expected = [f"Nov 30 06:00:00 mail postfix/smtp[{n}]: line {n}" for n in range(10_000)]
    writer.write("".join(line + "\n" for line in expected))
    read: list[str] = []
    position = None
    while True:
        follower = LogFollower(log, position)
        lines, position = follower.read_batch(137)
        follower.close()
        if not lines:
            break
        read += lines
    assert read == expected
    assert position.offset == log.stat().st_size


def test_random_writes_rotations_and_crashes_read_each_line_once(log, writer):
    """A writer appending in pieces of any size, rotations with late writes to the old file,
    and a reader that commits some batches and crashes before committing others."""
    rng = random.Random(17)
    expected: list[str] = []
    committed: list[str] = []
    stored: Position | None = None
    unwritten = b""  # the rest of the line being written
    stale = False  # the writer still has the file rotated away
    rotations = 0
    follower = LogFollower(log, None, chunk=97)
    for _ in range(20_000):
        action = rng.random()
        if action < 0.5:
            if not unwritten:
                line = f"{len(expected)} " + "".join(rng.choices("abcé ✓", k=rng.randint(0, 300)))
                expected.append(line)
                unwritten = (line + "\n").encode()
            piece = rng.randint(1, len(unwritten))
            writer.write(unwritten[:piece])
            unwritten = unwritten[piece:]
        elif action < 0.53 and stale and not unwritten:
            writer.reopen()
            stale = False
        elif action < 0.55 and not stale and stored and stored.inode == log.stat().st_ino:
            logrotate(log)  # never more than one rotation ahead of what is committed
            rotations += 1
            stale = True
        elif action < 0.6:
            follower.read_batch(rng.randint(1, 40))  # read, then a crash before the commit
            follower.close()
            follower = LogFollower(log, stored, chunk=97)
        else:
            lines, stored = follower.read_batch(rng.randint(1, 40))
            committed += lines
    writer.write(unwritten)
    writer.reopen()
    writer.write("the end\n")
    expected.append("the end")
    committed += read_all(follower)[0]
    follower.close()
    assert committed == expected
    assert len(expected) > 1000 and rotations > 50


def test_a_very_long_line_is_cut_and_the_lines_around_it_are_whole(log, writer, caplog):
    writer.write(b"first\n" + b"x" * 1_000_000 + b"\nlast\n")
    follower = LogFollower(log, None)
    with caplog.at_level(logging.WARNING, "mailbasic.delivery"):
        lines, position = read_all(follower)
    assert lines == ["first", "x" * MAX_LINE, "last"]
    assert position.offset == log.stat().st_size
    assert "1 line(s) longer than" in caplog.text
    follower.close()


def test_a_long_line_written_slowly_is_not_kept_whole_in_memory(log, writer):
    writer.write("before\n")
    follower = LogFollower(log, None, max_line=1000, chunk=256)
    stored = follower.read_batch()[1]
    for _ in range(200):
        writer.write(b"y" * 500)
        assert follower.read_batch() == ([], stored)
        assert len(follower._buffer) <= 1000 + 256  # its start and one chunk at most
    writer.write("z\nafter\n")
    lines, position = follower.read_batch()
    assert lines == ["y" * 1000, "after"]
    assert position.offset == log.stat().st_size
    follower.close()
    restarted = LogFollower(log, stored, max_line=1000, chunk=256)
    assert restarted.read_batch() == (lines, position)
    restarted.close()


def test_bytes_that_are_not_utf8_are_replaced_and_counted_as_bytes(log, writer):
    writer.write(b"caf\xe9 \xff\xfe ok\nnext \xe2\x82\n\xc3\xa9t\xc3\xa9\n")
    lines, position = LogFollower(log, None).read_batch()
    assert lines == ["caf\ufffd \ufffd\ufffd ok", "next \ufffd", "été"]
    assert position.offset == log.stat().st_size


def test_end_position_starts_after_the_last_complete_line(log, writer):
    writer.write("old 1\nold 2\nhalf")
    position = end_position(log)
    assert position is not None and position.offset == 12
    follower = LogFollower(log, position)
    assert follower.read_batch() == ([], position)
    writer.write(" done\nnew\n")
    assert follower.read_batch()[0] == ["half done", "new"]
    follower.close()
    assert end_position(log.with_name("absent")) is None


def test_rotated_files_are_the_uncompressed_ones_beside_the_log(log, writer):
    for name in ["postfix.log.1", "postfix.log.2.gz", "postfix.log.20261130-060000",
                 "postfix.log.20261129-060000.gz", "postfix.logger", "other.log.1"]:
        log.with_name(name).touch()
    assert [path.name for path in rotated_files(log)] == [
        "postfix.log.1", "postfix.log.20261130-060000"]
