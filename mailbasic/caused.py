"""Mail that mailbasic sends because of another message (a vacation reply, a filter's
notification) names that message's queue id in its Message-ID, so that the delivery
record (delivery/) can link the two from Postfix's log alone."""

from __future__ import annotations

import re
from email.utils import make_msgid
from typing import Literal

CauseKind = Literal["vacation", "notify"]
_CAUSE = re.compile(r"\.mbcause-(vacation|notify)-([0-9A-Za-z]+)@")


def message_id(kind: CauseKind, queue_id: str, domain: str) -> str:
    """A fresh Message-ID (make_msgid's) that carries the cause; without a queue id
    (a message not from Postfix) a plain one."""
    if not queue_id.isalnum():
        return make_msgid(domain=domain)
    return make_msgid(idstring=f"mbcause-{kind}-{queue_id}", domain=domain)


def cause_of(value: str) -> tuple[CauseKind, str] | None:
    """(kind, queue id of the cause) from a Message-ID made by message_id()."""
    match = _CAUSE.search(value)
    if match is None:
        return None
    kind: CauseKind = "vacation" if match.group(1) == "vacation" else "notify"
    return kind, match.group(2)
