"""Forwarding loops: the keyed tokens a forwarded message carries, and the hop limit."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Set

LOOP_HEADER = "X-Mailbasic-Loop"
MAX_HOPS = 25  # Received: lines; Postfix itself gives up at 50


class LoopTokens:
    """Name a forwarding address in the loop header without disclosing it: an HMAC under
    the service's secret (the SRS secrets), so that an outsider can neither forge a token
    to switch a forward off nor confirm a guessed forwarding address. Tokens under every
    secret are recognised, the first one's are written (rotation, as for SRS)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # Without SRS secrets there is no forwarding to outside worth protecting: a fixed
        # key still keeps the token from being the plain hash of the address.
        self.keys = [secret.encode() for secret in secrets] or [b"mailbasic loop token"]

    def token(self, address: str, key: bytes | None = None) -> str:
        message = b"loop:" + address.lower().encode()
        return hmac.new(key or self.keys[0], message, hashlib.sha256).hexdigest()[:16]

    def seen(self, address: str, tokens: Set[str]) -> bool:
        return any(self.token(address, key) in tokens for key in self.keys)
