"""Virus: scan every part with clamd over one session, decoded as clients decode it
(mailbasic.milter.contents); remove infected parts, leave a notice in their place;
refuse what cannot be scanned. Never fails open.

What will never pass (MIME nested deeper than the reader follows, too many parts, an
encrypted archive, clamd's limits exceeded) is refused for good inside the transaction,
554 5.7.1: a retry would only be refused again. Only a scanner that is down, slow or
answering something else gets 451.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from mailbasic.config import Settings
from mailbasic.milter import mime
from mailbasic.milter.contents import contents
from mailbasic.milter.decisions import (
    Action,
    AddHeader,
    DeleteHeader,
    Outcome,
    ReplaceBody,
    Reply,
    tempfail,
)
from mailbasic.milter.message import Message
from mailbasic.scanners.clamd import (
    ClamdError,
    ClamdSession,
    ClamdSessions,
    ScanResult,
    Verdict,
)

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
        self.sessions = ClamdSessions(settings.clamd_host, settings.clamd_port,
                                      settings.clamd_timeout)
        self.unscannable_action = settings.unscannable_action
        self.texts = {"nested too deep": settings.too_deep_text,
                      f"more than {mime.MAX_PARTS} parts": settings.too_many_parts_text,
                      "encrypted": settings.encrypted_text,
                      "over limits": settings.over_limits_text}

    def run(self, message: Message) -> Outcome:
        with message.reader() as spool:
            root = mime.parse(spool)
            beyond = [anomaly for anomaly in root.anomalies if anomaly in self.texts]
            if beyond:  # never read whole: what is past the limit stays unscanned
                return self._refuse(beyond[0], beyond[0])
            try:
                results = self._scan(spool, root)
            except ClamdError as error:
                return tempfail(self.name, str(error),
                                "Virus scanner unavailable, please try again later")
        failed = [result.detail for _, result in results if result.verdict is Verdict.FAILED]
        if failed:
            return tempfail(self.name, f"clamd: {failed[0]}",
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
        def scans(session: ClamdSession) -> list[tuple[mime.Part, ScanResult]]:
            results = [(part, self._scan_part(session, spool, part)) for part in root.leaves()]
            if root.anomalies and not any(r.verdict is not Verdict.CLEAN for _, r in results):
                # Malformed: let clamd's own MIME parser read the whole message too.
                whole = session.scan(mime.read_range(spool, 0, root.end))
                if whole.verdict is not Verdict.CLEAN:
                    return [(root, whole)]
            return results
        return self.sessions.run(scans)

    @staticmethod
    def _scan_part(session: ClamdSession, spool: BinaryIO, part: mime.Part) -> ScanResult:
        """The worst of what clamd says of each content of the part."""
        worst = ScanResult(Verdict.CLEAN)
        for content in contents(spool, part):
            result = session.scan(content.chunks)
            if _SEVERITY[result.verdict] > _SEVERITY[worst.verdict]:
                worst = result
        return worst

    def _refuse_unscannable(self, parts: list[tuple[mime.Part, ScanResult]]) -> Outcome:
        reason = "; ".join(f"{part.describe()}: {result.detail}" for part, result in parts)
        kind = ("encrypted" if any("Encrypted" in (result.detail or "") for _, result in parts)
                else "over limits")
        return self._refuse(kind, f"unscannable: {reason}")

    def _refuse(self, kind: str, reason: str) -> Outcome:
        if self.unscannable_action == "reject":
            return Outcome(self.name, "reject", reason,
                           refusal=Reply("554", "5.7.1", self.texts[kind]))
        return tempfail(self.name, reason,
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
            for header, index in reversed(message.header_indices(name.__eq__)):
                actions.append(DeleteHeader(header, index))
        actions += [AddHeader("Content-Type", "text/plain; charset=utf-8"),
                    AddHeader("Content-Transfer-Encoding", "8bit")]
        body = text.encode()
        actions.append(ReplaceBody(lambda: iter([body])))
        return actions


# Infected outweighs unscannable, which outweighs a clamd failure (a retry may scan it).
_SEVERITY = {Verdict.CLEAN: 0, Verdict.FAILED: 1, Verdict.UNSCANNABLE: 2, Verdict.INFECTED: 3}


def _rewritten(message: Message, replacements: dict[int, tuple[int, bytes]]) -> Iterator[bytes]:
    with message.reader() as spool:
        yield from mime.rewrite_body(spool, message.body_offset, message.size, replacements)
