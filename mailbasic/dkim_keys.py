"""DKIM keys of hosted domains: made, published, activated and retired (the CLI's
`mailbasic dkim`); the milter's stage dkim_sign signs with the active ones.

Rotation without a gap: a new key is published (its TXT record goes into DNS) and signs
nothing until it is activated; activating it moves signing to it and leaves the key it
replaces published, so that mail signed a moment ago still verifies; that key is retired
later. The callers audit (the CLI's transaction does). Only the CLI changes keys, so its
refusals are plain English, not templates for the portal's catalogues.
"""

from __future__ import annotations

import base64
import re
from datetime import date
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbasic.accounts import get_domain
from mailbasic.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound
from mailbasic.schema.dkim import SELECTOR_PATTERN, DkimAlgorithm, DkimKey, DkimKeyState

RSA_BITS = 2048
TXT_STRING_BYTES = 255   # one character-string of a TXT record (RFC 1035 3.3.14)
# The CLI's names of the algorithms, and the k= tag of each one's TXT record.
ALGORITHMS = {"rsa": DkimAlgorithm.RSA_SHA256, "ed25519": DkimAlgorithm.ED25519_SHA256}
KEY_TYPE = {DkimAlgorithm.RSA_SHA256: "rsa", DkimAlgorithm.ED25519_SHA256: "ed25519"}


# -- key material ------------------------------------------------------------------------

def new_key_material(algorithm: DkimAlgorithm) -> tuple[str, str]:
    """(private key as PEM, public key as the TXT record's p= value)."""
    if algorithm is DkimAlgorithm.RSA_SHA256:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        # RFC 8017 RSAPrivateKey ("BEGIN RSA PRIVATE KEY"): the form dkimpy reads.
        pem = rsa_key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        # p= of k=rsa is the DER SubjectPublicKeyInfo (RFC 6376 3.6.1).
        public = rsa_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        ed_key = ed25519.Ed25519PrivateKey.generate()
        pem = ed_key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
        # p= of k=ed25519 is the bare 32-byte public key (RFC 8463 4.2).
        public = ed_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)
    return pem.decode("ascii"), base64.b64encode(public).decode("ascii")


def signing_secret(algorithm: DkimAlgorithm, private_pem: str) -> bytes:
    """The private key as dkimpy's sign() takes it: PEM for RSA, the base64 of the 32-byte
    seed for Ed25519. Raises ValueError for a key that cannot be read."""
    if algorithm is DkimAlgorithm.RSA_SHA256:
        key = serialization.load_pem_private_key(private_pem.encode("ascii"), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("not an RSA private key")
        return private_pem.encode("ascii")
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return base64.b64encode(key.private_bytes(serialization.Encoding.Raw,
                                              serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption()))


def txt_value(algorithm: DkimAlgorithm, public_key: str) -> str:
    return f"v=DKIM1; k={KEY_TYPE[algorithm]}; p={public_key}"


def txt_strings(value: str) -> list[str]:
    """The record's text cut into character-strings of at most 255 bytes (ASCII)."""
    return [value[start:start + TXT_STRING_BYTES]
            for start in range(0, len(value), TXT_STRING_BYTES)]


def record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}."


def zone_line(selector: str, domain: str, algorithm: DkimAlgorithm, public_key: str) -> str:
    """`SELECTOR._domainkey.DOMAIN. IN TXT "..." "..."`, as a zone file takes it."""
    strings = " ".join(f'"{part}"' for part in txt_strings(txt_value(algorithm, public_key)))
    return f"{record_name(selector, domain)} IN TXT {strings}"


# -- the keys of a domain ------------------------------------------------------------------

def algorithm_named(name: str) -> DkimAlgorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise InvalidInput(f"unknown DKIM algorithm {name} (rsa or ed25519)") from None


def generate(session: Session, domain_name: str, algorithm: DkimAlgorithm,
             selector: str | None = None, today: date | None = None) -> DkimKey:
    """A new key for DOMAIN, published: it signs nothing until activated."""
    domain = get_domain(session, domain_name, lock=True)
    taken = set(session.scalars(select(DkimKey.selector).where(DkimKey.domain_id == domain.id)))
    if selector is None:
        selector = _free_selector(taken, algorithm, today or date.today())
    selector = _valid_selector(selector)
    if selector in taken:
        raise AlreadyExists(f"DKIM selector {selector} of {domain.name} exists already")
    private_pem, public_key = new_key_material(algorithm)
    key = DkimKey(domain_id=domain.id, selector=selector, algorithm=algorithm,
                  private_key=private_pem, public_key=public_key,
                  state=DkimKeyState.PUBLISHED)
    session.add(key)
    session.flush()
    return key


def _free_selector(taken: set[str], algorithm: DkimAlgorithm, today: date) -> str:
    """mb202611 (RSA) or mb202611e (Ed25519), then -2, -3, ... when taken."""
    base = f"mb{today:%Y%m}" + ("e" if algorithm is DkimAlgorithm.ED25519_SHA256 else "")
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _valid_selector(selector: str) -> str:
    selector = selector.lower()
    if not re.fullmatch(SELECTOR_PATTERN.strip("^$"), selector):
        syntax = "one DNS label of letters, digits and '-'"
        raise InvalidInput(f"DKIM selector {selector} is not {syntax}")
    return selector


def get_key(session: Session, domain_name: str, selector: str) -> DkimKey:
    domain = get_domain(session, domain_name, lock=True)
    key = session.scalar(select(DkimKey).where(DkimKey.domain_id == domain.id,
                                               DkimKey.selector == selector.lower()))
    if key is None:
        raise NotFound(f"domain {domain.name} has no DKIM selector {selector}")
    return key


def activate(session: Session, domain_name: str, selector: str) -> tuple[DkimKey,
                                                                         DkimKey | None]:
    """Sign DOMAIN's mail with the key SELECTOR from now on: (the key, the key of the same
    algorithm it replaces, which stays published). Activating the active key changes
    nothing; a retired key cannot come back."""
    key = get_key(session, domain_name, selector)
    if key.state is DkimKeyState.ACTIVE:
        return key, None
    if key.state is DkimKeyState.RETIRED:
        name = f"DKIM selector {key.selector} of {domain_name.lower()}"
        raise NotAllowed(f"{name} is retired and cannot sign again; generate a new key")
    replaced = session.scalar(select(DkimKey).where(
        DkimKey.domain_id == key.domain_id, DkimKey.algorithm == key.algorithm,
        DkimKey.state == DkimKeyState.ACTIVE))
    if replaced is not None:
        replaced.state, replaced.replaced_at = DkimKeyState.PUBLISHED, func.now()
        session.flush()  # first: at most one active key per algorithm, at every statement
    key.state, key.activated_at, key.replaced_at = DkimKeyState.ACTIVE, func.now(), None
    session.flush()
    return key, replaced


def retire(session: Session, domain_name: str, selector: str) -> DkimKey:
    """Stop publishing SELECTOR: its private part is destroyed. Refused for the active key
    (activate another first); retiring a retired key changes nothing."""
    key = get_key(session, domain_name, selector)
    if key.state is DkimKeyState.ACTIVE:
        name = f"DKIM selector {key.selector} of {domain_name.lower()}"
        raise NotAllowed(f"{name} is the active key: activate another key first")
    if key.state is DkimKeyState.PUBLISHED:
        key.state, key.retired_at, key.private_key = DkimKeyState.RETIRED, func.now(), None
        session.flush()
    return key


def list_keys(session: Session, domain_name: str, *,
              with_retired: bool = False) -> list[DkimKey]:
    domain = get_domain(session, domain_name)
    query = select(DkimKey).where(DkimKey.domain_id == domain.id)
    if not with_retired:
        query = query.where(DkimKey.state != DkimKeyState.RETIRED)
    return list(session.scalars(query.order_by(DkimKey.created_at, DkimKey.id)))


def view(key: DkimKey, domain_name: str) -> dict[str, Any]:
    """A key as the CLI's --json shows it (never its private part)."""
    domain = domain_name.lower()
    return {"domain": domain, "selector": key.selector, "algorithm": key.algorithm.value,
            "state": key.state.value, "name": record_name(key.selector, domain),
            "txt": txt_value(key.algorithm, key.public_key),
            "record": zone_line(key.selector, domain, key.algorithm, key.public_key),
            "created_at": key.created_at, "activated_at": key.activated_at,
            "replaced_at": key.replaced_at, "retired_at": key.retired_at}
