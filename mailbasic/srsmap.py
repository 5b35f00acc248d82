"""`mailbasic srs`: the return path of forwarded mail. A Postfix socketmap table
(virtual_alias_maps = socketmap:unix:PATH:reverse) that turns a valid SRS address of the
SRS domain back into the address it stands for, so a bounce of a forwarded message
reaches its original sender. Forged, altered and expired SRS addresses are not found.

The protocol is mailbasic.socketmap's.
"""

from __future__ import annotations

import logging

from mailbasic import socketmap
from mailbasic.config import Settings
from mailbasic.srs import Srs, SrsError, is_srs, srs_domain

log = logging.getLogger("mailbasic.srs")

TABLE = "reverse"


class ReverseTable:
    def __init__(self, srs: Srs, domain: str) -> None:
        self.srs, self.domain = srs, domain.lower()

    def lookup(self, request: str) -> str:
        name, _, key = request.partition(" ")
        if name != TABLE:
            return f"PERM no table named {name!r}"
        local_part, _, domain = key.rpartition("@")
        if domain.lower() != self.domain or not is_srs(local_part):
            return "NOTFOUND "
        try:
            original = self.srs.reverse(key)
        except SrsError as error:
            log.info("srs: verdict=notfound key=<%s> reason=%s", key, error)
            return "NOTFOUND "
        log.info("srs: verdict=found key=<%s> original=<%s>", key, original)
        return f"OK {original}"


def run(settings: Settings) -> None:
    if not settings.srs_secrets:
        raise SystemExit("mailbasic srs: forwarding.srs_secrets is not set")
    table = ReverseTable(Srs([secret.encode() for secret in settings.srs_secrets],
                             settings.srs_max_age_days), srs_domain(settings))
    log.info("mailbasic srs table for %s", srs_domain(settings))
    socketmap.serve(settings.srs_socket, table)
