"""TOTP codes are accepted once: the time step of the last code accepted

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('customer_credentials',
                  sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('customer_credentials', 'totp_last_step')
