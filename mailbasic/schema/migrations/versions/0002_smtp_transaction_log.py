"""smtp transaction log: one row per SMTP transaction, one per recipient

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 19:28:13.984710
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('smtp_transactions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('logged_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('queue_id', sa.Text(), nullable=False),
    sa.Column('client_address', sa.Text(), nullable=False),
    sa.Column('client_name', sa.Text(), nullable=False),
    sa.Column('helo', sa.Text(), nullable=False),
    sa.Column('tls', sa.Text(), nullable=True),
    sa.Column('auth_user', sa.Text(), nullable=True),
    sa.Column('sender', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('verdicts', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_transactions'))
    )
    op.create_index('ix_smtp_transactions_logged_at', 'smtp_transactions', ['logged_at'], unique=False)
    op.create_index('ix_smtp_transactions_queue_id', 'smtp_transactions', ['queue_id'], unique=False)
    op.create_index('ix_smtp_transactions_sender', 'smtp_transactions', ['sender'], unique=False)
    op.create_table('smtp_recipients',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['smtp_transactions.id'], name=op.f('fk_smtp_recipients_transaction_id_smtp_transactions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_recipients'))
    )
    op.create_index('ix_smtp_recipients_address', 'smtp_recipients', ['address'], unique=False)
    op.create_index(op.f('ix_smtp_recipients_transaction_id'), 'smtp_recipients', ['transaction_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_smtp_recipients_transaction_id'), table_name='smtp_recipients')
    op.drop_index('ix_smtp_recipients_address', table_name='smtp_recipients')
    op.drop_table('smtp_recipients')
    op.drop_index('ix_smtp_transactions_sender', table_name='smtp_transactions')
    op.drop_index('ix_smtp_transactions_queue_id', table_name='smtp_transactions')
    op.drop_index('ix_smtp_transactions_logged_at', table_name='smtp_transactions')
    op.drop_table('smtp_transactions')
