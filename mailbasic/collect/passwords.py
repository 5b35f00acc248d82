"""The external accounts' passwords, encrypted with the key from the config (Fernet:
AES-128-CBC with HMAC-SHA256, so a changed or foreign token is refused, not misread)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from mailbasic.config import Settings
from mailbasic.errors import N_, ConfigError, MailbasicError


class UnreadablePassword(MailbasicError):
    """The stored password does not decrypt with the configured key."""


def _fernet(settings: Settings) -> Fernet:
    if not settings.collect_key:
        raise ConfigError(N_("POP3 collection needs collect.key in the config (a Fernet key)"))
    return Fernet(settings.collect_key.encode())


def encrypt(settings: Settings, password: str) -> bytes:
    return _fernet(settings).encrypt(password.encode())


def decrypt(settings: Settings, token: bytes) -> str:
    try:
        return _fernet(settings).decrypt(token).decode()
    except InvalidToken:
        raise UnreadablePassword("the stored password does not decrypt with collect.key "
                                 "(was the key changed?); set the password again") from None
