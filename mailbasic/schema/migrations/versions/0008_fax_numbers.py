"""fax numbers: the mailbox and format for faxes to each number

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 02:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fax_numbers',
    sa.Column('number', sa.Text(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('format', sa.Enum('pdf', 'tiff', name='fax_format'), server_default='pdf',
              nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.CheckConstraint("number ~ '^[0-9]{3,20}$'", name=op.f('ck_fax_numbers_number_syntax')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'],
                            name=op.f('fk_fax_numbers_mailbox_id_mailboxes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_fax_numbers'))
    )
    op.create_index(op.f('ix_fax_numbers_mailbox_id'), 'fax_numbers', ['mailbox_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_fax_numbers_mailbox_id'), table_name='fax_numbers')
    op.drop_table('fax_numbers')
    sa.Enum(name='fax_format').drop(op.get_bind())
