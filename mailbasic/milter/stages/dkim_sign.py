"""DKIM signing: mail an authenticated client submits, whose From: is a hosted domain with
an active key, is signed with that key (each active algorithm's, dkimpy, relaxed/relaxed)
and the DKIM-Signature header is put above all others.

This stage runs last and signs the message as Postfix will deliver it: the headers and
body the earlier stages leave (a virus notice in place of a part, their headers added or
removed). Only the headers in SIGNED that the message has are signed, so that Postfix
may still add a missing Date: or Message-ID:, plus From: once more (oversigned: nobody can
add a second From: without breaking the signature). A key that cannot be used is a 451:
the client retries, and no mail leaves a hosted domain unsigned by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from sqlalchemy import Engine, text

from mailbasic.config import Settings
from mailbasic.directory import TtlCache, directory_engine, retrying
from mailbasic.dkim_keys import signing_secret
from mailbasic.milter.decisions import AddHeader, DeleteHeader, Outcome, ReplaceBody, tempfail
from mailbasic.milter.message import Message
from mailbasic.schema.dkim import DkimAlgorithm

SIGNED = ("from", "to", "cc", "subject", "date", "message-id", "reply-to", "mime-version",
          "content-type", "content-transfer-encoding")
HEADER = "DKIM-Signature"
_LINE_END = re.compile(rb"\r?\n")

_ACTIVE_KEYS = text("""
SELECT k.selector, k.algorithm::text, k.private_key
FROM dkim_keys k JOIN domains d ON d.id = k.domain_id
WHERE d.name = :domain AND k.state = 'active'
ORDER BY k.algorithm
""")


@dataclass(frozen=True)
class SigningKey:
    selector: str
    algorithm: DkimAlgorithm
    secret: bytes    # as dkimpy's sign() takes it (dkim_keys.signing_secret)


class SigningKeys:
    """A domain's active keys, in one query, cached for policy.cache_seconds: an
    activation takes effect within that time, as any CLI change does for the milter."""

    def __init__(self, engine: Engine, cache_seconds: float) -> None:
        self.engine = engine
        self.cache: TtlCache[tuple[SigningKey, ...]] = TtlCache(cache_seconds)

    def active_for(self, domain: str) -> tuple[SigningKey, ...]:
        domain = domain.lower()
        return self.cache.get(domain, lambda: self._load(domain))

    @retrying
    def _load(self, domain: str) -> tuple[SigningKey, ...]:
        with self.engine.connect() as connection:
            rows = connection.execute(_ACTIVE_KEYS, {"domain": domain}).all()
        keys = []
        for selector, algorithm, private_key in rows:
            algorithm = DkimAlgorithm(algorithm)
            # Read here, once per load: an unreadable key raises and is not cached.
            keys.append(SigningKey(selector, algorithm, signing_secret(algorithm, private_key)))
        return tuple(keys)


class DkimSignStage:
    name = "dkim_sign"

    def __init__(self, settings: Settings, keys: SigningKeys | None = None) -> None:
        self.keys = keys or SigningKeys(directory_engine(settings),
                                        settings.policy_cache_seconds)

    def run(self, message: Message) -> Outcome:
        if not message.client.auth_user:
            return Outcome(self.name, "none", "not authenticated")
        headers = delivered_headers(message)
        domain = from_domain(headers)
        if domain is None:
            return Outcome(self.name, "none", "no single From: address")
        try:
            keys = self.keys.active_for(domain)
            if not keys:
                return Outcome(self.name, "none", f"no active key for {domain}")
            signable, names = signable_message(headers, delivered_body(message))
            signatures = tuple(sign(signable, names, domain, key) for key in keys)
        except (dkim.DKIMException, ValueError, TypeError, UnsupportedAlgorithm) as error:
            return tempfail(self.name, f"not signed for {domain}: {error}",
                            "Message could not be DKIM-signed, please try again later")
        return Outcome(self.name, "signed", f"d={domain} " + " ".join(
            f"s={key.selector} a={key.algorithm.value}" for key in keys), signatures)


def sign(signable: bytes, names: list[bytes], domain: str, key: SigningKey) -> AddHeader:
    """The DKIM-Signature over NAMES (and From: once more) and the body, by KEY."""
    signature = dkim.sign(signable, key.selector.encode("ascii"), domain.encode("ascii"),
                          key.secret, canonicalize=(b"relaxed", b"relaxed"),
                          signature_algorithm=key.algorithm.value.encode("ascii"),
                          include_headers=names + [b"from"])
    value = signature.split(b":", 1)[1].strip()
    # libmilter's folding is "\n" followed by white space; Postfix writes CRLF itself.
    return AddHeader(HEADER, value.replace(b"\r\n", b"\n").decode("ascii"), prepend=True)


def delivered_headers(message: Message) -> list[tuple[str, bytes]]:
    """The headers as the earlier stages leave them: deletions applied (by their index
    among the headers of that name as received), additions at the top or the bottom."""
    actions = [action for outcome in message.outcomes for action in outcome.actions]
    deleted = {(action.name.lower(), action.index) for action in actions
               if isinstance(action, DeleteHeader)}
    seen: dict[str, int] = {}
    kept: list[tuple[str, bytes]] = []
    for name, value in message.headers:
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
        if (name.lower(), seen[name.lower()]) not in deleted:
            kept.append((name, value))
    added = [action for action in actions if isinstance(action, AddHeader)]
    top = [(action.name, action.value.encode()) for action in reversed(added) if action.prepend]
    bottom = [(action.name, action.value.encode()) for action in added if not action.prepend]
    return top + kept + bottom


def delivered_body(message: Message) -> bytes:
    """The body Postfix will deliver: the last replacement of an earlier stage, or the
    body as received; with CRLF line ends, as it goes over the wire."""
    replacement = next((action for outcome in reversed(message.outcomes)
                        for action in reversed(outcome.actions)
                        if isinstance(action, ReplaceBody)), None)
    if replacement is not None:
        body = b"".join(replacement.chunks())
    else:
        with message.reader() as spool:
            spool.seek(message.body_offset)
            body = spool.read()
    return _LINE_END.sub(b"\r\n", body)


def from_domain(headers: list[tuple[str, bytes]]) -> str | None:
    """The domain of the one From: address (the sender stage has refused any other
    authenticated message), or None."""
    values = [value.decode("utf-8", "replace") for name, value in headers
              if name.lower() == "from"]
    addresses = [address for _, address in getaddresses(values) if address]
    if len(values) != 1 or len(addresses) != 1 or "@" not in addresses[0]:
        return None
    domain = addresses[0].rpartition("@")[2].lower()
    return domain if domain.isascii() else None


def signable_message(headers: list[tuple[str, bytes]],
                     body: bytes) -> tuple[bytes, list[bytes]]:
    """The headers to be signed and the body, in the form dkimpy signs, and the names of
    those headers (one for each, in order)."""
    signed = [(name.encode("ascii", "replace"), value) for name, value in headers
              if name.lower() in SIGNED]
    lines = [name + b": " + _LINE_END.sub(b"\r\n", value.strip()) + b"\r\n"
             for name, value in signed]
    return b"".join(lines) + b"\r\n" + body, [name.lower() for name, _ in signed]
