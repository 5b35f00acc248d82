"""Password hashes in Dovecot's "{SCHEME}hash" form; Dovecot verifies them at login.

bcrypt (Dovecot's BLF-CRYPT) is slow on purpose; the cost is configuration.
"""

from __future__ import annotations

import bcrypt

from mailbasic.errors import InvalidInput

SCHEME = "{BLF-CRYPT}"
MIN_LENGTH = 8
MAX_BYTES = 72  # bcrypt ignores everything after 72 bytes: refuse, don't truncate


def validate_password(password: str) -> bytes:
    encoded = password.encode("utf-8")
    if len(password) < MIN_LENGTH:
        raise InvalidInput("password too short: at least {minimum} characters",
                           minimum=MIN_LENGTH)
    if len(encoded) > MAX_BYTES:
        raise InvalidInput("password too long: at most {maximum} bytes", maximum=MAX_BYTES)
    if any(ord(character) < 32 or ord(character) == 127 for character in password):
        raise InvalidInput("password contains control characters")
    return encoded


def hash_password(password: str, cost: int) -> str:
    salted = bcrypt.hashpw(validate_password(password), bcrypt.gensalt(rounds=cost))
    return SCHEME + salted.decode("ascii")


def verify_password(password: str, stored: str) -> bool:
    # bcrypt reads 72 bytes at most (and bcrypt 5 refuses more): no such password was
    # ever set (validate_password), so a longer one is simply wrong, never an error.
    if not stored.startswith(SCHEME) or len(password.encode("utf-8")) > MAX_BYTES:
        return False
    return bcrypt.checkpw(password.encode("utf-8"), stored[len(SCHEME):].encode("ascii"))
