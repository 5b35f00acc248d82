"""DKIM signing keys of hosted domains (mailbasic/dkim_keys.py makes and rotates them; the
milter's stage dkim_sign signs with the active ones).

A key's life: published (its TXT record may be in DNS, it signs nothing) -> active (the
milter signs with it) -> published again when another key of its algorithm is activated
(mail in flight still verifies) -> retired (its record may go; its private part is gone).
At most one key per domain and algorithm is active: a partial unique index holds that.
"""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from mailbasic.schema.models import Base, CreatedAt, Timestamp

# One DNS label, lower case: the selector is SELECTOR._domainkey.DOMAIN.
SELECTOR_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class DkimAlgorithm(enum.Enum):
    RSA_SHA256 = "rsa-sha256"
    ED25519_SHA256 = "ed25519-sha256"


class DkimKeyState(enum.Enum):
    PUBLISHED = "published"
    ACTIVE = "active"
    RETIRED = "retired"


def _enum(values: type[enum.Enum], name: str) -> Enum:
    return Enum(values, name=name, values_callable=lambda members: [m.value for m in members])


class DkimKey(Base):
    __tablename__ = "dkim_keys"
    __table_args__ = (
        UniqueConstraint("domain_id", "selector"),
        CheckConstraint(f"selector ~ '{SELECTOR_PATTERN}'", name="selector_syntax"),
        CheckConstraint("public_key ~ '^[A-Za-z0-9+/]+=*$'", name="public_key_base64"),
        # The private part is PEM while the key may sign, and destroyed when retired.
        CheckConstraint("(state = 'retired') = (private_key IS NULL)",
                        name="private_key_until_retired"),
        CheckConstraint("private_key IS NULL OR private_key LIKE '-----BEGIN %'",
                        name="private_key_pem"),
        CheckConstraint("(state = 'retired') = (retired_at IS NOT NULL)",
                        name="retirement_recorded"),
        CheckConstraint("state <> 'active' OR (activated_at IS NOT NULL"
                        " AND replaced_at IS NULL)", name="activation_recorded"),
        CheckConstraint("replaced_at IS NULL OR activated_at IS NOT NULL",
                        name="replaced_after_activation"),
        CheckConstraint("activated_at >= created_at AND replaced_at >= activated_at"
                        " AND retired_at >= created_at", name="times_in_order"),
        Index("uq_dkim_keys_active", "domain_id", "algorithm", unique=True,
              postgresql_where=text("state = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    selector: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[DkimAlgorithm] = mapped_column(_enum(DkimAlgorithm, "dkim_algorithm"))
    private_key: Mapped[str | None] = mapped_column(Text)   # PEM
    public_key: Mapped[str] = mapped_column(Text)           # the TXT record's p= (base64)
    state: Mapped[DkimKeyState] = mapped_column(
        _enum(DkimKeyState, "dkim_key_state"), server_default="published")
    created_at: Mapped[CreatedAt]
    activated_at: Mapped[Timestamp | None]   # the last time it became active
    replaced_at: Mapped[Timestamp | None]    # when another key took over from it
    retired_at: Mapped[Timestamp | None]
