"""POP3 collection: messages skipped for being larger than the size limit

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:00:00

A message that LIST announced as small but grew past the limit while it was read is
remembered here, so the next run skips it instead of reading it again.
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oversized_messages',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('uidl', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('noted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['collect_accounts.id'],
                            name=op.f('fk_oversized_messages_account_id_collect_accounts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'uidl', name=op.f('pk_oversized_messages'))
    )


def downgrade() -> None:
    op.drop_table('oversized_messages')
