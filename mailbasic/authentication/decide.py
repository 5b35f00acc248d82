"""What the milter does with a DMARC verdict: the domain owner's policy, applied.

- fail under p=reject (after pct=): refused inside the transaction, 550 5.7.1.
- fail under p=quarantine: accepted as spam for every recipient mailbox, whose own spam
  action then decides (tag, Spam folder, delete).
- fail under p=none, pass, no record: only the header.
- temperror (DNS did not answer in time): as if the domain had no policy; a resolver
  that fails must not turn mail away, and the header says `dmarc=temperror`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbasic.authentication.dmarc import Verdict

REJECT, QUARANTINE = "reject", "quarantine"


@dataclass(frozen=True)
class Decision:
    verdict: str        # reject | quarantine | pass | fail | none | temperror | permerror
    reason: str
    refusal_text: str | None = None


def decide(dmarc: Verdict) -> Decision:
    shown = f"dmarc={dmarc.result} header.from={dmarc.domain or '-'} p={dmarc.policy}"
    if dmarc.result == "fail" and dmarc.disposition == REJECT:
        return Decision(REJECT, f"{shown}: {dmarc.reason}",
                        f"Message refused: the DMARC policy of {dmarc.domain} rejects mail "
                        "that neither SPF nor DKIM authenticates for its From: domain")
    if dmarc.result == "fail" and dmarc.disposition == QUARANTINE:
        return Decision(QUARANTINE, f"{shown}: {dmarc.reason}: treated as spam")
    if dmarc.result == "temperror":
        return Decision("temperror", f"{shown}: {dmarc.reason}: treated as no policy")
    if dmarc.result == "fail":
        return Decision("fail", f"{shown} dis={dmarc.disposition}: {dmarc.reason}")
    return Decision(dmarc.result, f"{shown}" + (f": {dmarc.reason}" if dmarc.reason else ""))
