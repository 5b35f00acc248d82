"""`mailbasic delivery-log`: follows Postfix's log file and stores the delivery record.

One loop: read a batch of complete lines, parse them, store what they say together with
the position after them (record.py), repeat; sleep briefly when there is nothing new.
A database failure loses nothing: the reader waits, then starts again from the position
stored with the last batch that committed, which the follower resumes exactly.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from mailbasic.config import Settings
from mailbasic.delivery import postfix_log
from mailbasic.delivery.follow import LogFollower, Position, end_position
from mailbasic.delivery.record import DeliveryRecorder
from mailbasic.directory import directory_engine

log = logging.getLogger("mailbasic.delivery")

RETRY_SECONDS = 5.0


class DeliveryLogReader:
    def __init__(self, settings: Settings) -> None:
        self.path = Path(settings.delivery_log_file)
        self.settings = settings
        self.recorder = DeliveryRecorder(directory_engine(settings), str(self.path))
        self.stopping = False
        self.stored: Position | None = None

    def run(self) -> None:
        while not self.stopping:
            try:
                self.follow()
            except (SQLAlchemyError, OSError) as error:
                log.error("delivery-log: stage=store verdict=retry reason=%s; again from the "
                          "stored position in %.0f s", _first_line(error), RETRY_SECONDS)
                time.sleep(RETRY_SECONDS)

    def follow(self) -> None:
        position = self.recorder.start()
        if position is None and self.settings.delivery_log_start == "end":
            position = end_position(self.path)
        follower = LogFollower(self.path, position)
        self.stored = position
        log.info("delivery-log: reading %s from %s", self.path,
                 f"byte {position.offset} of inode {position.inode}" if position
                 else "its beginning")
        try:
            while not self.stopping:
                if not self.step(follower):
                    time.sleep(self.settings.delivery_log_poll_seconds)
        finally:
            follower.close()

    def step(self, follower: LogFollower) -> int:
        """One batch: returns the number of lines stored. A new position without lines
        (the switch to a rotated-in file) is stored too: a restart then does not look for
        the finished file."""
        lines, position = follower.read_batch(self.settings.delivery_log_batch_lines)
        if lines or position != self.stored:
            # PostgreSQL's text takes no NUL, which Postfix never logs; a stray one must
            # not stop the reader on its line for good.
            self.recorder.store([postfix_log.parse(line.replace("\x00", "\ufffd"))
                                 for line in lines], position)
            self.stored = position
        return len(lines)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def run(settings: Settings) -> None:
    DeliveryLogReader(settings).run()
