"""What stages decide; the milter adapter applies it. Stages never speak the protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mailbasic.sms.notification import QueueNotification


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
    value: str        # folded with "\n\t", as libmilter takes it
    prepend: bool = False  # above all other headers (a DKIM-Signature), not below them


@dataclass(frozen=True)
class DeleteHeader:
    name: str
    index: int        # 1-based among the headers of that name, as received


@dataclass(frozen=True)
class ReplaceBody:
    chunks: Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class AddRecipient:
    address: str


@dataclass(frozen=True)
class DeleteRecipient:
    address: str      # exactly as the client gave it


@dataclass(frozen=True)
class ChangeSender:
    address: str


@dataclass(frozen=True)
class SendMessage:
    """A new message (a vacation reply) handed to the local MTA once the transaction is
    accepted, with the null envelope sender."""
    recipient: str
    data: bytes


Action = (AddHeader | DeleteHeader | ReplaceBody | AddRecipient | DeleteRecipient
          | ChangeSender | SendMessage | QueueNotification)


@dataclass(frozen=True)
class Outcome:
    """One stage's decision: a verdict for the log, actions, and maybe a refusal."""

    stage: str
    verdict: str
    reason: str = ""
    actions: tuple[Action, ...] = ()
    refusal: Reply | None = None
    # What became of each recipient (address -> "into Büro", ...), for the transaction log.
    recipients: tuple[tuple[str, str], ...] = ()
    discard: bool = False  # accept the message and deliver it to nobody


def tempfail(stage: str, reason: str, text: str) -> Outcome:
    return Outcome(stage, "tempfail", reason, refusal=Reply("451", "4.7.1", text))
