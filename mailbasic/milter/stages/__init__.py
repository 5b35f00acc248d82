"""The stages of the milter and their order, which is data.

Groups run one after the other; the stages within a group run concurrently (spamd and
clamd work in parallel, so a message waits for the slower scanner, not for both). The
first refusal, in the order listed, ends the run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from mailbasic.config import Settings
from mailbasic.milter.decisions import Outcome, Reply
from mailbasic.milter.message import Message
from mailbasic.milter.stages.arc_seal import ArcSealStage
from mailbasic.milter.stages.authentication import AuthenticationStage
from mailbasic.milter.stages.dkim_sign import DkimSignStage
from mailbasic.milter.stages.own_headers import OwnHeadersStage
from mailbasic.milter.stages.rules import RulesStage
from mailbasic.milter.stages.sender import SenderStage
from mailbasic.milter.stages.size import SizeStage
from mailbasic.milter.stages.sms import SmsStage
from mailbasic.milter.stages.spam import SpamStage
from mailbasic.milter.stages.virus import VirusStage


class Stage(Protocol):
    name: str

    def run(self, message: Message) -> Outcome: ...


STAGES = {"size": SizeStage, "sender": SenderStage, "own_headers": OwnHeadersStage,
          "authentication": AuthenticationStage, "virus": VirusStage, "spam": SpamStage,
          "rules": RulesStage, "sms": SmsStage, "dkim_sign": DkimSignStage,
          "arc_seal": ArcSealStage}
# Refusals that need no scanner come first; the sender checks (SPF, DKIM, DMARC) after
# own_headers, which removes forged Authentication-Results, and before the scanners, so
# that a DMARC p=reject refusal costs no scan. The rules come after the scanners: they
# read the spam score (and a DMARC quarantine) and see the message as delivered. SMS comes
# after them: only recipients whose mailbox gets the message are told. DKIM signing and
# ARC sealing are last: they sign the message as every other stage leaves it.
DEFAULT_ORDER: tuple[tuple[str, ...], ...] = (("size",), ("sender",), ("own_headers",),
                                              ("authentication",), ("virus", "spam"),
                                              ("rules",), ("sms",), ("dkim_sign",),
                                              ("arc_seal",))


class Pipeline:
    def __init__(self, settings: Settings, order: tuple[tuple[str, ...], ...] = DEFAULT_ORDER,
                 stages: dict[str, Stage] | None = None) -> None:
        stages = stages or {name: STAGES[name](settings) for group in order for name in group}
        self.groups = [[stages[name] for name in group] for group in order]
        self._size = next((stage for stage in stages.values()
                           if isinstance(stage, SizeStage)), None)
        width = max(len(group) for group in self.groups)
        self.executor = ThreadPoolExecutor(max_workers=max(width - 1, 1) * 32,
                                           thread_name_prefix="stage")

    def check_announced_size(self, announced: int | None) -> Reply | None:
        """The one decision taken before the message: SIZE= at MAIL FROM."""
        return self._size.check_announced(announced) if self._size else None

    def run(self, message: Message) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for group in self.groups:
            # The first stage runs in this thread, the rest beside it.
            futures = [self.executor.submit(stage.run, message) for stage in group[1:]]
            results = [group[0].run(message)] + [future.result() for future in futures]
            outcomes.extend(results)
            message.outcomes = list(outcomes)
            if any(outcome.refusal for outcome in results):
                break
        return outcomes
