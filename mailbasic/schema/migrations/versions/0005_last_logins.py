"""last IMAP and POP3 login per mailbox (written by Dovecot's last_login plugin)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 02:05:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('last_logins',
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('service', sa.Text(), nullable=False),
    sa.Column('logged_in_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("service IN ('imap', 'pop3')", name=op.f('ck_last_logins_service')),
    sa.PrimaryKeyConstraint('username', 'service', name=op.f('pk_last_logins'))
    )


def downgrade() -> None:
    op.drop_table('last_logins')
