"""DKIM signing keys of hosted domains

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 12:10:00

One row per key: its selector, algorithm, PEM private part (gone once retired) and the
public part for DNS, and its state. At most one active key per domain and algorithm
(a partial unique index); the milter signs with it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

ALGORITHM = sa.Enum('rsa-sha256', 'ed25519-sha256', name='dkim_algorithm')
STATE = sa.Enum('published', 'active', 'retired', name='dkim_key_state')


def upgrade() -> None:
    op.create_table('dkim_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('selector', sa.Text(), nullable=False),
    sa.Column('algorithm', ALGORITHM, nullable=False),
    sa.Column('private_key', sa.Text(), nullable=True),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('state', STATE, server_default='published', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("selector ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'",
                       name=op.f('ck_dkim_keys_selector_syntax')),
    sa.CheckConstraint("public_key ~ '^[A-Za-z0-9+/]+=*$'",
                       name=op.f('ck_dkim_keys_public_key_base64')),
    sa.CheckConstraint("(state = 'retired') = (private_key IS NULL)",
                       name=op.f('ck_dkim_keys_private_key_until_retired')),
    sa.CheckConstraint("private_key IS NULL OR private_key LIKE '-----BEGIN %'",
                       name=op.f('ck_dkim_keys_private_key_pem')),
    sa.CheckConstraint("(state = 'retired') = (retired_at IS NOT NULL)",
                       name=op.f('ck_dkim_keys_retirement_recorded')),
    sa.CheckConstraint("state <> 'active' OR (activated_at IS NOT NULL"
                       " AND replaced_at IS NULL)",
                       name=op.f('ck_dkim_keys_activation_recorded')),
    sa.CheckConstraint('replaced_at IS NULL OR activated_at IS NOT NULL',
                       name=op.f('ck_dkim_keys_replaced_after_activation')),
    sa.CheckConstraint('activated_at >= created_at AND replaced_at >= activated_at'
                       ' AND retired_at >= created_at',
                       name=op.f('ck_dkim_keys_times_in_order')),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'],
                            name=op.f('fk_dkim_keys_domain_id_domains'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dkim_keys')),
    sa.UniqueConstraint('domain_id', 'selector', name=op.f('uq_dkim_keys_domain_id_selector'))
    )
    op.create_index(op.f('ix_dkim_keys_domain_id'), 'dkim_keys', ['domain_id'])
    op.create_index('uq_dkim_keys_active', 'dkim_keys', ['domain_id', 'algorithm'],
                    unique=True, postgresql_where=sa.text("state = 'active'"))


def downgrade() -> None:
    op.drop_table('dkim_keys')
    STATE.drop(op.get_bind())
    ALGORITHM.drop(op.get_bind())
