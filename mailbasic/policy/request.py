"""One policy request as the checks see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyRequest:
    state: str               # RCPT, END-OF-MESSAGE, ...
    queue_id: str
    instance: str            # one SMTP transaction (MAIL FROM ... end of data)
    client: str              # name[address]
    client_address: str
    sender: str
    recipient: str
    sasl_username: str
    size: int | None
    recipient_count: int

    @classmethod
    def from_attributes(cls, attributes: dict[str, str]) -> PolicyRequest:
        size = attributes.get("size", "")
        count = attributes.get("recipient_count", "")
        return cls(
            state=attributes.get("protocol_state", ""),
            queue_id=attributes.get("queue_id") or "NOQUEUE",
            instance=attributes.get("instance", ""),
            client=(f"{attributes.get('client_name', 'unknown')}"
                    f"[{attributes.get('client_address', 'unknown')}]"),
            client_address=attributes.get("client_address", ""),
            sender=attributes.get("sender", "").lower(),
            recipient=attributes.get("recipient", "").lower(),
            sasl_username=attributes.get("sasl_username", "").lower(),
            size=int(size) if size.isdigit() else None,
            recipient_count=int(count) if count.isdigit() else 0)

    @property
    def at_rcpt(self) -> bool:
        return self.state == "RCPT"

    @property
    def at_end_of_message(self) -> bool:
        return self.state == "END-OF-MESSAGE"


@dataclass(frozen=True)
class Verdict:
    action: str              # what Postfix gets, e.g. "550 5.1.1 <x@y>: ..."
    reason: str              # for the log
