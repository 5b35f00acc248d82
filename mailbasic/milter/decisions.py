"""What stages decide; the milter adapter applies it. Stages never speak the protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass(frozen=True)
class Reply:
    code: str         # "552"
    status: str       # "5.3.4"
    text: str

    @property
    def is_temporary(self) -> bool:
        return self.code.startswith("4")

    def __str__(self) -> str:
        return f"{self.code} {self.status} {self.text}"


@dataclass(frozen=True)
class AddHeader:
    name: str
    value: str


@dataclass(frozen=True)
class DeleteHeader:
    name: str
    index: int        # 1-based among the headers of that name, as received


@dataclass(frozen=True)
class ReplaceBody:
    chunks: Callable[[], Iterator[bytes]]


Action = AddHeader | DeleteHeader | ReplaceBody


@dataclass(frozen=True)
class Outcome:
    """One stage's decision: a verdict for the log, actions, and maybe a refusal."""

    stage: str
    verdict: str
    reason: str = ""
    actions: tuple[Action, ...] = ()
    refusal: Reply | None = None


def tempfail(stage: str, reason: str, text: str) -> Outcome:
    return Outcome(stage, "tempfail", reason, refusal=Reply("451", "4.7.1", text))
