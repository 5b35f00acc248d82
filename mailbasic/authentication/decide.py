"""What the milter does with a DMARC verdict: the domain owner's policy, applied.

- fail under p=reject (after pct=): refused inside the transaction, 550 5.7.1.
- fail under p=quarantine: accepted as spam for every recipient mailbox, whose own spam
  action then decides (tag, Spam folder, delete).
- fail under p=none, pass, no record: only the header.
- temperror (DNS did not answer in time): as if the domain had no policy; a resolver
  that fails must not turn mail away, and the header says `dmarc=temperror`.

A reject or quarantine says why the domain failed, from the SPF and DKIM results (the
transaction log's reason and the milter's log line): "DMARC quarantine: example.org
fails (SPF fail for example.org, no DKIM signature): treated as spam".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailbasic.authentication.dmarc import Verdict
from mailbasic.authentication.results import Result

REJECT, QUARANTINE = "reject", "quarantine"
MAX_SIGNATURES_NAMED = 5   # a hostile message may carry hundreds
MAX_NAME = 100


@dataclass(frozen=True)
class Decision:
    verdict: str        # reject | quarantine | pass | fail | none | temperror | permerror
    reason: str
    refusal_text: str | None = None


def decide(dmarc: Verdict, results: Sequence[Result] = ()) -> Decision:
    """RESULTS: the message's SPF and DKIM results (checks.Report.results), which a
    reject's or quarantine's reason names."""
    shown = f"dmarc={dmarc.result} header.from={dmarc.domain or '-'} p={dmarc.policy}"
    if dmarc.result == "fail" and dmarc.disposition == REJECT:
        return Decision(REJECT, f"{_failure(dmarc, results)}: refused",
                        f"Message refused: the DMARC policy of {dmarc.domain} rejects mail "
                        "that neither SPF nor DKIM authenticates for its From: domain")
    if dmarc.result == "fail" and dmarc.disposition == QUARANTINE:
        return Decision(QUARANTINE, f"{_failure(dmarc, results)}: treated as spam, "
                                    "each recipient mailbox's spam action applies")
    if dmarc.result == "temperror":
        return Decision("temperror", f"{shown}: {dmarc.reason}: treated as no policy")
    if dmarc.result == "fail":
        return Decision("fail", f"{shown} dis={dmarc.disposition}: {dmarc.reason}")
    return Decision(dmarc.result, f"{shown}" + (f": {dmarc.reason}" if dmarc.reason else ""))


def _failure(dmarc: Verdict, results: Sequence[Result]) -> str:
    """`DMARC quarantine: example.org fails (SPF fail for example.org, no DKIM
    signature)`, with the policy when pct= made the disposition weaker than it."""
    policy = "" if dmarc.policy == dmarc.disposition else f" (p={dmarc.policy}, pct= sample)"
    return (f"DMARC {dmarc.disposition}{policy}: {_name(dmarc.domain) or '-'} fails "
            f"({_spf_said(results)}, {_dkim_said(results)})")


def _spf_said(results: Sequence[Result]) -> str:
    """What SPF found for MAIL FROM (for the null sender, the HELO name DMARC then uses);
    a pass is named not aligned, since DMARC failed."""
    spf = [result for result in results if result.method == "spf"]
    mail_from = [(result, dict(result.properties)["smtp.mailfrom"]) for result in spf
                 if "smtp.mailfrom" in dict(result.properties)]
    if mail_from:
        result, sender = mail_from[0]
        identity = _name(sender.rpartition("@")[2])
        prefix = ""
    else:
        helo = [(result, dict(result.properties)["smtp.helo"]) for result in spf
                if "smtp.helo" in dict(result.properties)]
        if not helo:
            return "null sender, no SPF identity"
        result, name = helo[0]
        identity, prefix = f"HELO {_name(name)}", "null sender, "
    if result.result == "pass":
        return f"{prefix}SPF pass for {identity}, not aligned"
    return f"{prefix}SPF {result.result} for {identity}"


def _dkim_said(results: Sequence[Result]) -> str:
    signatures = [result for result in results
                  if result.method == "dkim" and result.result != "none"]
    if not signatures:
        return "no DKIM signature"
    named = [f"d={_name(dict(result.properties).get('header.d', '')) or '-'} "
             f"{result.result}" for result in signatures[:MAX_SIGNATURES_NAMED]]
    more = len(signatures) - len(named)
    return "no aligned DKIM: " + ", ".join(named) + (f" and {more} more" if more else "")


def _name(text: str) -> str:
    """A name from the message or DNS, printable and short enough for one log line."""
    shown = "".join(char if char.isprintable() and not char.isspace() else "?"
                    for char in text[:MAX_NAME])
    return shown + ("..." if len(text) > MAX_NAME else "")
