"""SMS notifications: phone and rules per mailbox, the outbox

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 03:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

RULE_KIND = sa.Enum('sender', 'subject', 'fax', 'high-priority', name='sms_rule_kind')
STATE = sa.Enum('pending', 'sent', 'failed', 'suppressed', name='sms_state')


def _mailbox_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'],
                                   name=op.f(f'fk_{table}_mailbox_id_mailboxes'),
                                   ondelete='CASCADE')


def upgrade() -> None:
    op.create_table('sms_settings',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.CheckConstraint("phone ~ '^\\+?[0-9]{6,20}$'", name=op.f('ck_sms_settings_phone_syntax')),
    _mailbox_key('sms_settings'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_sms_settings'))
    )
    op.create_table('sms_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('kind', RULE_KIND, nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.CheckConstraint("(kind IN ('fax', 'high-priority')) = (value IS NULL)",
                       name=op.f('ck_sms_rules_value_when_needed')),
    sa.CheckConstraint('value IS NULL OR length(value) BETWEEN 1 AND 200',
                       name=op.f('ck_sms_rules_value_length')),
    sa.CheckConstraint("kind <> 'sender' OR value ~ '^([^@\\s]+@|@)[^@\\s]+\\.[^@\\s]+$'",
                       name=op.f('ck_sms_rules_sender_syntax')),
    sa.UniqueConstraint('mailbox_id', 'kind', 'value', postgresql_nulls_not_distinct=True,
                        name='uq_sms_rules_mailbox_id_kind_value'),
    _mailbox_key('sms_rules'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_rules'))
    )
    op.create_index(op.f('ix_sms_rules_mailbox_id'), 'sms_rules', ['mailbox_id'])
    op.create_table('sms_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', STATE, server_default='pending', nullable=False),
    sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.CheckConstraint('char_length(text) BETWEEN 1 AND 160',
                       name=op.f('ck_sms_outbox_text_length')),
    _mailbox_key('sms_outbox'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbox'))
    )
    op.create_index(op.f('ix_sms_outbox_mailbox_id'), 'sms_outbox', ['mailbox_id'])
    op.create_index('ix_sms_outbox_due', 'sms_outbox', ['state', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_table('sms_outbox')
    op.drop_table('sms_rules')
    op.drop_table('sms_settings')
    STATE.drop(op.get_bind())
    RULE_KIND.drop(op.get_bind())
