"""mailboxes: reactivated_at and mail_deleted_at for the inactivity rules

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 02:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('mailboxes', sa.Column('reactivated_at', sa.DateTime(timezone=True),
                                         nullable=True))
    op.add_column('mailboxes', sa.Column('mail_deleted_at', sa.DateTime(timezone=True),
                                         nullable=True))


def downgrade() -> None:
    op.drop_column('mailboxes', 'mail_deleted_at')
    op.drop_column('mailboxes', 'reactivated_at')
