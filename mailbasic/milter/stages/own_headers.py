"""Own headers: X-Mailbasic-* headers are the service's own. Whatever a sender wrote
under those names is removed, so that nothing downstream (a mail client, a filter rule,
the service itself on a later hop) takes a forgery for the service's word.

X-Mailbasic-Loop stays: it must survive outside hops to stop forwarding loops, and its
tokens are keyed with the service's secret (rules stage), so a forged one matches
nothing.

Authentication-Results headers that claim one of the service's host names as their
authserv-id are ours too (RFC 8601 5: a receiver removes those before adding its own),
from every sender, a login's too; other hosts' stay."""

from __future__ import annotations

from mailbasic.authentication.results import HEADER, authserv_id_of
from mailbasic.config import Settings, service_host_names
from mailbasic.milter.decisions import DeleteHeader, Outcome
from mailbasic.milter.message import Message
from mailbasic.rules.loops import LOOP_HEADER

PREFIX = "x-mailbasic-"
KEPT = {LOOP_HEADER.lower()}


class OwnHeadersStage:
    name = "own_headers"

    def __init__(self, settings: Settings) -> None:
        self.authserv_ids = frozenset(name.lower() for name in service_host_names(settings))

    def run(self, message: Message) -> Outcome:
        removals = tuple(DeleteHeader(name, index) for name, index in reversed(
            message.header_indices(lambda key: key.startswith(PREFIX) and key not in KEPT)))
        results = tuple(DeleteHeader(name, index) for name, index in reversed(
            self._ours(message)))
        return Outcome(self.name, "stripped" if removals or results else "none",
                       f"{len(removals)} X-Mailbasic-* headers removed, {len(results)} "
                       f"{HEADER} of ours", removals + results)

    def _ours(self, message: Message) -> list[tuple[str, int]]:
        """(name, index) of the Authentication-Results that claim our authserv-id."""
        seen = 0
        ours = []
        for name, value in message.headers:
            if name.lower() == HEADER.lower():
                seen += 1
                if authserv_id_of(value.decode("utf-8", "replace")) in self.authserv_ids:
                    ours.append((name, seen))
        return ours
