"""POP3 collection: external accounts per mailbox and the UIDLs collected from them

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 02:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('collect_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('host', sa.Text(), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.Enum('tls', 'starttls', 'plain', name='pop3_security'),
              nullable=False),
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('password_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('leave_on_server', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('interval_minutes', sa.SmallInteger(), server_default='15', nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_fetched', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.CheckConstraint('port BETWEEN 1 AND 65535',
                       name=op.f('ck_collect_accounts_port_range')),
    sa.CheckConstraint('interval_minutes BETWEEN 5 AND 1440',
                       name=op.f('ck_collect_accounts_interval_range')),
    sa.CheckConstraint("host ~ '^[A-Za-z0-9.-]{1,253}$'",
                       name=op.f('ck_collect_accounts_host_syntax')),
    sa.CheckConstraint('length(username) BETWEEN 1 AND 320',
                       name=op.f('ck_collect_accounts_username_length')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'],
                            name=op.f('fk_collect_accounts_mailbox_id_mailboxes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collect_accounts')),
    sa.UniqueConstraint('mailbox_id', 'host', 'port', 'username',
                        name=op.f('uq_collect_accounts_mailbox_id_host_port_username'))
    )
    op.create_index(op.f('ix_collect_accounts_mailbox_id'), 'collect_accounts',
                    ['mailbox_id'], unique=False)
    op.create_table('collected_messages',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('uidl', sa.Text(), nullable=False),
    sa.Column('collected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['collect_accounts.id'],
                            name=op.f('fk_collected_messages_account_id_collect_accounts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'uidl', name=op.f('pk_collected_messages'))
    )


def downgrade() -> None:
    op.drop_table('collected_messages')
    op.drop_index(op.f('ix_collect_accounts_mailbox_id'), table_name='collect_accounts')
    op.drop_table('collect_accounts')
    sa.Enum(name='pop3_security').drop(op.get_bind())
