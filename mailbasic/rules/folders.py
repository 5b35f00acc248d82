"""How the milter names a folder to Dovecot: login+TOKEN@domain.

An SMTP address cannot carry "Rechnungen 2026" or "Büro" to Dovecot's LMTP (no quoting
survives every hop, and Dovecot 2.3's LMTP has no SMTPUTF8), so the detail is a token
derived from the folder's name. Each mailbox's delivery script in Dovecot (the view
dovecot_delivery_scripts, migration 0004) maps the token back, computed the same way in
SQL. A token Dovecot does not know (a folder removed meanwhile) ends in INBOX.
"""

from __future__ import annotations

import hashlib
import unicodedata

from mailbasic.errors import N_, InvalidInput

MAX_FOLDER_NAME = 200
SPAM_FOLDER = "Spam"


def folder_token(name: str) -> str:
    """Must equal the view's 'f' || left(encode(sha256(convert_to(name, 'UTF8')),
    'hex'), 12)."""
    return "f" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


def folder_address(login: str, folder: str) -> str:
    local_part, _, domain = login.rpartition("@")
    return f"{local_part}+{folder_token(folder)}@{domain}"


def check_folder_name(name: str) -> str:
    """The rules of the delivery_folders.name_syntax constraint, with a readable refusal."""
    if not 1 <= len(name) <= MAX_FOLDER_NAME:
        raise InvalidInput(N_("folder name must have 1 to {limit} characters"),
                           limit=MAX_FOLDER_NAME)
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise InvalidInput(N_("folder name {name!r} contains a control character"), name=name)
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise InvalidInput(N_("folder name {name!r}: '/' separates levels and may not start, "
                              "end or repeat"), name=name)
    return name
