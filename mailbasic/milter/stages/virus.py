"""Virus: scan every part with clamd over one session; remove infected parts, leave a
notice in their place; refuse what cannot be scanned. Never fails open."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from mailbasic.config import Settings
from mailbasic.milter import mime
from mailbasic.milter.decisions import (Action, AddHeader, DeleteHeader, Outcome, ReplaceBody,
                                        Reply, tempfail)
from mailbasic.milter.message import Message
from mailbasic.scanners.clamd import ClamdError, ClamdSession, ScanResult, Verdict

NOTICE_HEADERS = (b"Content-Type: text/plain; charset=utf-8\r\n"
                  b"Content-Disposition: inline\r\n"
                  b"Content-Transfer-Encoding: 8bit\r\n")


def notice_text(removed: list[tuple[mime.Part, ScanResult]]) -> str:
    lines = [f"  {part.describe()}: {result.detail}" for part, result in removed]
    return ("The mail service removed content infected by a virus from this message.\r\n"
            "It cannot be recovered. Removed:\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n"
            "The rest of the message was delivered unchanged.\r\n")


class VirusStage:
    name = "virus"

    def __init__(self, settings: Settings) -> None:
        self.host, self.port = settings.clamd_host, settings.clamd_port
        self.timeout = settings.clamd_timeout
        self.unscannable_action = settings.unscannable_action

    def run(self, message: Message) -> Outcome:
        with message.reader() as spool:
            root = mime.parse(spool)
            try:
                results = self._scan(spool, root)
            except ClamdError as error:
                return tempfail(self.name, str(error),
                                "Virus scanner unavailable, please try again later")
        unscannable = [(part, result) for part, result in results
                       if result.verdict is Verdict.UNSCANNABLE]
        if unscannable:
            return self._refuse_unscannable(unscannable)
        infected = [(part, result) for part, result in results
                    if result.verdict is Verdict.INFECTED]
        if not infected:
            return Outcome(self.name, "clean", f"{len(results)} parts scanned")
        return self._remove(message, root, infected, len(results))

    def _scan(self, spool: BinaryIO, root: mime.Part) -> list[tuple[mime.Part, ScanResult]]:
        with ClamdSession(self.host, self.port, self.timeout) as session:
            results = [(part, session.scan(mime.decoded_body(spool, part)))
                       for part in root.leaves()]
            if root.anomalies and not any(r.verdict is not Verdict.CLEAN for _, r in results):
                # Malformed: let clamd's own MIME parser read the whole message too.
                whole = session.scan(mime.read_range(spool, 0, root.end))
                if whole.verdict is not Verdict.CLEAN:
                    return [(root, whole)]
            return results

    def _refuse_unscannable(self, parts: list[tuple[mime.Part, ScanResult]]) -> Outcome:
        reason = "; ".join(f"{part.describe()}: {result.detail}" for part, result in parts)
        if self.unscannable_action == "reject":
            return Outcome(self.name, "reject", f"unscannable: {reason}", refusal=Reply(
                "554", "5.7.1", "Message refused: content that cannot be scanned for "
                "viruses (encrypted or over the scan limits)"))
        return tempfail(self.name, f"unscannable: {reason}",
                        "Message content could not be scanned for viruses, try again later")

    def _remove(self, message: Message, root: mime.Part,
                infected: list[tuple[mime.Part, ScanResult]], scanned: int) -> Outcome:
        signatures = ", ".join(sorted({result.detail or "?" for _, result in infected}))
        actions: list[Action] = [AddHeader("X-Mailbasic-Virus-Removed", signatures)]
        if len(infected) == scanned or infected[0][0] is root:
            actions += self._replace_whole(message, notice_text(infected))
        else:
            replacements = {part.start: (part.end, NOTICE_HEADERS + b"\r\n"
                                         + notice_text([(part, result)]).encode())
                            for part, result in infected}
            actions.append(ReplaceBody(lambda: _rewritten(message, replacements)))
        return Outcome(self.name, "infected", f"removed {len(infected)} of {scanned} parts: "
                       f"{signatures}", actions=tuple(actions))

    @staticmethod
    def _replace_whole(message: Message, text: str) -> list[Action]:
        """Nothing but the virus: the message becomes the notice alone."""
        actions: list[Action] = []
        for name in ("content-type", "content-transfer-encoding", "content-disposition"):
            for header, index in reversed(message.header_indices(lambda key: key == name)):
                actions.append(DeleteHeader(header, index))
        actions += [AddHeader("Content-Type", "text/plain; charset=utf-8"),
                    AddHeader("Content-Transfer-Encoding", "8bit")]
        body = text.encode()
        actions.append(ReplaceBody(lambda: iter([body])))
        return actions


def _rewritten(message: Message, replacements: dict[int, tuple[int, bytes]]) -> Iterator[bytes]:
    with message.reader() as spool:
        yield from mime.rewrite_body(spool, message.body_offset, message.size, replacements)
