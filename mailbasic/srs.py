"""The Sender Rewriting Scheme (Shevek's "guarded" SRS0/SRS1, as libsrs2 and postsrsd
write it), so mail forwarded to outside domains passes SPF at the next hop and its
bounces can be routed back to the original sender.

    SRS0=HHHH=TT=domain=local@srs-domain
    SRS1=HHHH=first-hop-domain==HHHH=TT=domain=local@srs-domain

HHHH: the first 4 characters of base64(HMAC-SHA1(secret, the lower-cased fields)); TT:
days since the epoch modulo 1024 in two base32 characters. Hashes are compared without
regard to case, since some MTAs lower-case local parts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

from mailbasic.config import Settings
from mailbasic.errors import InvalidInput

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
HASH_LENGTH = 4
TIMESTAMP_CYCLE = 1024  # days: two base32 characters
SEPARATORS = "=+-"


class SrsError(InvalidInput):
    pass


def srs_domain(settings: Settings) -> str:
    """A domain of its own (not a mailbox domain), so Postfix can treat it as a virtual
    alias domain whose every address is looked up in the SRS table."""
    return settings.srs_domain or f"srs.{settings.service_domain}"


def is_srs(address: str) -> bool:
    return address[:5].upper() in ("SRS0=", "SRS0+", "SRS0-", "SRS1=", "SRS1+", "SRS1-")


class Srs:
    def __init__(self, secrets: Sequence[bytes], max_age_days: int = 21,
                 now: Callable[[], float] = time.time) -> None:
        if not secrets:
            raise ValueError("SRS needs at least one secret")
        self.secrets, self.max_age_days, self.now = list(secrets), max_age_days, now

    def forward(self, sender: str, alias_domain: str) -> str:
        """The envelope sender to use when mail from SENDER leaves through ALIAS_DOMAIN."""
        local, at, domain = sender.rpartition("@")
        if not sender or not at or domain.lower() == alias_domain.lower():
            return sender
        if local[:4].upper() == "SRS1" and local[4:5] in SEPARATORS:
            first_hop, rest = self._srs1_fields(local)
            return f"SRS1={self._hash(self.secrets[0], first_hop, rest)}={first_hop}={rest}" \
                   f"@{alias_domain}"
        if local[:4].upper() == "SRS0" and local[4:5] in SEPARATORS:
            rest = local[4:]  # keeps its leading separator, hence "==" after the host
            return f"SRS1={self._hash(self.secrets[0], domain, rest)}={domain}={rest}" \
                   f"@{alias_domain}"
        stamp = self._timestamp()
        return (f"SRS0={self._hash(self.secrets[0], stamp, domain, local)}={stamp}"
                f"={domain}={local}@{alias_domain}")

    def reverse(self, address: str) -> str:
        """The address an SRS address stands for: the original sender (SRS0), or the
        first hop's SRS0 address (SRS1)."""
        local = address.rpartition("@")[0]
        if not is_srs(local):
            raise SrsError(f"{address!r} is not an SRS address")
        if local[:4].upper() == "SRS1":
            first_hop, rest = self._srs1_fields(local)
            claimed = local[5:].split("=", 1)[0]
            self._verify(claimed, first_hop, rest)
            return f"SRS0{rest}@{first_hop}"
        fields = local[5:].split("=", 3)
        if len(fields) != 4 or not all(fields):
            raise SrsError(f"{address!r} is a malformed SRS0 address")
        claimed, stamp, domain, original_local = fields
        self._verify(claimed, stamp, domain, original_local)
        self._check_age(stamp, address)
        return f"{original_local}@{domain}"

    def _srs1_fields(self, local: str) -> tuple[str, str]:
        fields = local[5:].split("=", 2)
        if len(fields) != 3 or not fields[1] or not fields[2] or fields[2][0] not in SEPARATORS:
            raise SrsError(f"{local!r} is a malformed SRS1 address")
        return fields[1], fields[2]

    def _verify(self, claimed: str, *fields: str) -> None:
        for secret in self.secrets:
            if hmac.compare_digest(claimed.lower().encode(),
                                   self._hash(secret, *fields).lower().encode()):
                return
        raise SrsError("SRS address with a wrong hash: not made here, or altered")

    def _check_age(self, stamp: str, address: str) -> None:
        if len(stamp) != 2 or any(character not in BASE32 for character in stamp.upper()):
            raise SrsError(f"{address!r} has a malformed SRS timestamp")
        made = BASE32.index(stamp[0].upper()) * 32 + BASE32.index(stamp[1].upper())
        age = (self._today() - made) % TIMESTAMP_CYCLE
        if age > self.max_age_days:
            raise SrsError(f"{address!r} expired ({age} days old, at most "
                           f"{self.max_age_days})")

    def _today(self) -> int:
        return int(self.now() // 86400) % TIMESTAMP_CYCLE

    def _timestamp(self) -> str:
        today = self._today()
        return BASE32[today >> 5] + BASE32[today & 31]

    @staticmethod
    def _hash(secret: bytes, *fields: str) -> str:
        digest = hmac.new(secret, digestmod=hashlib.sha1)
        for field in fields:
            digest.update(field.lower().encode("utf-8", "surrogateescape"))
        return base64.b64encode(digest.digest()).decode()[:HASH_LENGTH]
