"""Size: nothing above the limit, whether announced (SIZE= at MAIL FROM) or counted."""

from __future__ import annotations

from mailbasic.config import Settings
from mailbasic.milter.decisions import Outcome, Reply
from mailbasic.milter.message import Message


class SizeStage:
    name = "size"

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.message_size_limit
        self.refusal = Reply("552", "5.3.4",
                             f"Message too big: this service accepts at most "
                             f"{self.limit} bytes")

    def check_announced(self, announced: int | None) -> Reply | None:
        return self.refusal if announced is not None and announced > self.limit else None

    def run(self, message: Message) -> Outcome:
        if message.size > self.limit:
            return Outcome(self.name, "reject", f"size {message.size} > {self.limit}",
                           refusal=self.refusal)
        return Outcome(self.name, "pass", f"size {message.size}")
