"""Own headers: X-Mailbasic-* headers are the service's own. Whatever a sender wrote
under those names is removed, so that nothing downstream (a mail client, a filter rule,
the service itself on a later hop) takes a forgery for the service's word.

X-Mailbasic-Loop stays: it must survive outside hops to stop forwarding loops, and its
tokens are keyed with the service's secret (rules stage), so a forged one matches
nothing."""

from __future__ import annotations

from mailbasic.config import Settings
from mailbasic.milter.decisions import DeleteHeader, Outcome
from mailbasic.milter.message import Message
from mailbasic.rules.loops import LOOP_HEADER

PREFIX = "x-mailbasic-"
KEPT = {LOOP_HEADER.lower()}


class OwnHeadersStage:
    name = "own_headers"

    def __init__(self, settings: Settings) -> None:
        pass

    def run(self, message: Message) -> Outcome:
        removals = tuple(DeleteHeader(name, index) for name, index in reversed(
            message.header_indices(lambda key: key.startswith(PREFIX) and key not in KEPT)))
        return Outcome(self.name, "stripped" if removals else "none",
                       f"{len(removals)} X-Mailbasic-* headers removed", removals)
