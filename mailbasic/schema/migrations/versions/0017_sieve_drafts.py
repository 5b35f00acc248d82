"""ManageSieve scripts: the active one's name, and the drafts

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 10:30:00

The active script's text is mailbox_rules.filters; its row here holds only its name.
"""

from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sieve_scripts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('draft', sa.Text(), server_default='', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.CheckConstraint('length(name) BETWEEN 1 AND 128',
                       name=op.f('ck_sieve_scripts_name_length')),
    sa.CheckConstraint('length(draft) <= 65536', name=op.f('ck_sieve_scripts_draft_size')),
    sa.CheckConstraint("NOT active OR draft = ''",
                       name=op.f('ck_sieve_scripts_active_has_no_draft')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'],
                            name=op.f('fk_sieve_scripts_mailbox_id_mailboxes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sieve_scripts')),
    sa.UniqueConstraint('mailbox_id', 'name', name=op.f('uq_sieve_scripts_mailbox_id_name')),
    )
    op.create_index('ix_sieve_scripts_one_active', 'sieve_scripts', ['mailbox_id'],
                    unique=True, postgresql_where=sa.text('active'))


def downgrade() -> None:
    op.drop_index('ix_sieve_scripts_one_active', table_name='sieve_scripts',
                  postgresql_where=sa.text('active'))
    op.drop_table('sieve_scripts')
