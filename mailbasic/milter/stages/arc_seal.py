"""ARC sealing (RFC 8617): mail the rules forward to an outside address leaves with an
ARC set (ARC-Authentication-Results copying our Authentication-Results,
ARC-Message-Signature, ARC-Seal; dkimpy's arc_sign), so that the receiver can trust our
SPF/DKIM/DMARC results although SRS has rewritten the envelope sender.

Forwarding to outside is decided by the rules stage only (a forward or a filter's
redirect becomes a recipient the milter adds); Postfix's virtual aliases after the
milter only map hosted addresses to hosted mailboxes, and SRS addresses back to the
original sender of a bounce, which is not sealed.

The key: the active RSA key of the forwarding address's domain (ARC is RSA only), else
the service domain's; with neither, the message goes unsealed and the log says so. Only
messages with our Authentication-Results are sealed (mail from outside): an
authenticated submission is DKIM-signed by its own domain instead.

The stage runs last and seals the message as Postfix will deliver it.
"""

from __future__ import annotations

import dkim
from cryptography.exceptions import UnsupportedAlgorithm

from mailbasic.authentication.results import HEADER
from mailbasic.config import Settings, service_host_names
from mailbasic.directory import Directory, directory_engine, shared_directory
from mailbasic.milter.decisions import AddHeader, Outcome
from mailbasic.milter.message import Message
from mailbasic.milter.stages.dkim_sign import (
    SIGNED,
    SigningKey,
    SigningKeys,
    delivered_body,
    delivered_headers,
)
from mailbasic.schema.dkim import DkimAlgorithm

# What the ARC-Message-Signature covers: what a DKIM signature of ours would (dkimpy
# refuses DKIM-Signature itself in an AMS).
SEALED = SIGNED


class ArcSealStage:
    name = "arc_seal"

    def __init__(self, settings: Settings, keys: SigningKeys | None = None,
                 directory: Directory | None = None) -> None:
        self.keys = keys or SigningKeys(directory_engine(settings),
                                        settings.policy_cache_seconds)
        self.directory = directory or shared_directory(settings)
        self.authserv_id = service_host_names(settings)[0]
        self.service_domain = settings.service_domain

    def run(self, message: Message) -> Outcome:
        forwarders = self._forwarded_outside(message)
        if not forwarders:
            return Outcome(self.name, "none", "not forwarded outside")
        headers = delivered_headers(message)
        if not any(name == HEADER and value.startswith(self.authserv_id.encode() + b";")
                   for name, value in headers):
            return Outcome(self.name, "none", "no Authentication-Results of ours")
        domain, key = self._key(forwarders)
        if key is None:
            return Outcome(self.name, "none", "no active RSA key for "
                           + ", ".join(dict.fromkeys(forwarders + [self.service_domain])))
        try:
            seal = arc_set(headers, delivered_body(message), domain, key, self.authserv_id)
        except (dkim.DKIMException, ValueError, TypeError, UnsupportedAlgorithm) as error:
            # An unusable chain or key: the message still goes, unsealed, as without ARC.
            return Outcome(self.name, "error", f"not sealed for {domain}: {error}")
        if not seal:
            return Outcome(self.name, "none", "dkimpy made no ARC set")
        return Outcome(self.name, "sealed", f"d={domain} s={key.selector} "
                       f"for {', '.join(forwarders)}", seal)

    def _forwarded_outside(self, message: Message) -> list[str]:
        """The domains of the recipient addresses whose rules send the message outside."""
        domains = []
        for outcome in message.rules_outcomes.values():
            if any(self.directory.recipient(target.lower()) is None
                   for target in outcome.plan.delivery.redirects):
                domains.append(outcome.recipient.rpartition("@")[2].lower())
        return list(dict.fromkeys(domains))

    def _key(self, domains: list[str]) -> tuple[str, SigningKey | None]:
        for domain in dict.fromkeys(domains + [self.service_domain.lower()]):
            for key in self.keys.active_for(domain):
                if key.algorithm is DkimAlgorithm.RSA_SHA256:
                    return domain, key
        return "", None


def arc_set(headers: list[tuple[str, bytes]], body: bytes, domain: str, key: SigningKey,
            authserv_id: str) -> tuple[AddHeader, ...]:
    """The next ARC set over the message, as headers to put on top: ARC-Seal first."""
    message = b"".join(name.encode("ascii", "replace") + b": " + value.strip()
                       .replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"
                       for name, value in headers) + b"\r\n" + body
    names = [name.lower().encode("ascii") for name in dict.fromkeys(
        name.lower() for name, _ in headers) if name in SEALED]
    lines = dkim.arc_sign(message, key.selector.encode("ascii"), domain.encode("ascii"),
                          key.secret, authserv_id.encode("ascii"), include_headers=names)
    fields = []
    for line in lines:
        name, _, value = line.partition(b":")
        fields.append(AddHeader(name.decode("ascii"), value.strip().replace(b"\r\n", b"\n")
                                .decode("ascii"), prepend=True))
    # Each prepended header goes on top of the ones before: the last one added is first.
    return tuple(reversed(fields))
