"""The customer portal: credentials, recovery codes, invitation and support links, login
throttling, the audit log and API tokens

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 08:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
SHA256_HEX = "^[0-9a-f]{64}$"


def _created_at(name: str = 'created_at') -> sa.Column:
    return sa.Column(name, TIMESTAMP, server_default=sa.text('now()'), nullable=False)


def _customer(nullable: bool = False) -> sa.Column:
    return sa.Column('customer_id', sa.Integer(), nullable=nullable)


def upgrade() -> None:
    op.create_table('customer_credentials',
    _customer(),
    sa.Column('password_hash', sa.Text(), nullable=True),
    sa.Column('totp_secret', sa.Text(), nullable=True),
    sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False),
    _created_at('updated_at'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                            name=op.f('fk_customer_credentials_customer_id_customers'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_credentials'))
    )
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    _customer(),
    sa.Column('code_hash', sa.Text(), nullable=False),
    sa.Column('used_at', TIMESTAMP, nullable=True),
    sa.CheckConstraint(f"code_hash ~ '{SHA256_HEX}'", name=op.f('ck_recovery_codes_code_hash')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                            name=op.f('fk_recovery_codes_customer_id_customers'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash'))
    )
    op.create_index(op.f('ix_recovery_codes_customer_id'), 'recovery_codes', ['customer_id'])
    op.create_table('portal_tokens',
    sa.Column('token_hash', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    _customer(),
    sa.Column('created_by', sa.Text(), nullable=False),
    _created_at(),
    sa.Column('expires_at', TIMESTAMP, nullable=False),
    sa.Column('used_at', TIMESTAMP, nullable=True),
    sa.CheckConstraint(f"token_hash ~ '{SHA256_HEX}'",
                       name=op.f('ck_portal_tokens_token_hash')),
    sa.CheckConstraint("kind IN ('invite', 'support')", name=op.f('ck_portal_tokens_kind')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                            name=op.f('fk_portal_tokens_customer_id_customers'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_portal_tokens'))
    )
    op.create_index(op.f('ix_portal_tokens_customer_id'), 'portal_tokens', ['customer_id'])
    op.create_table('login_failures',
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure', TIMESTAMP, nullable=False),
    sa.CheckConstraint("scope IN ('account', 'client')", name=op.f('ck_login_failures_scope')),
    sa.CheckConstraint('failures > 0', name=op.f('ck_login_failures_failures')),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_login_failures'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    _created_at('at'),
    sa.Column('actor', sa.Text(), nullable=False),
    _customer(nullable=True),
    sa.Column('client_address', sa.Text(), nullable=True),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default='{}',
              nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                            name=op.f('fk_audit_events_customer_id_customers'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index('ix_audit_events_at', 'audit_events', ['at'])
    op.create_index('ix_audit_events_customer_id_at', 'audit_events', ['customer_id', 'at'])
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.Text(), nullable=False),
    sa.Column('scopes', postgresql.ARRAY(sa.Text()), nullable=False),
    _created_at(),
    sa.Column('last_used_at', TIMESTAMP, nullable=True),
    sa.Column('revoked_at', TIMESTAMP, nullable=True),
    sa.CheckConstraint(f"token_hash ~ '{SHA256_HEX}'", name=op.f('ck_api_tokens_token_hash')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )


def downgrade() -> None:
    for table in ('api_tokens', 'audit_events', 'login_failures', 'portal_tokens',
                  'recovery_codes', 'customer_credentials'):
        op.drop_table(table)
