"""quota usage (written by Dovecot) and rate counters (the policy daemon)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 19:58:12.200907
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quota_usage',
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('messages', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_quota_usage'))
    )
    op.create_table('rate_counters',
    sa.Column('login', sa.Text(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('messages', sa.Integer(), server_default='0', nullable=False),
    sa.Column('recipients', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('login', 'hour', name=op.f('pk_rate_counters'))
    )


def downgrade() -> None:
    op.drop_table('rate_counters')
    op.drop_table('quota_usage')
