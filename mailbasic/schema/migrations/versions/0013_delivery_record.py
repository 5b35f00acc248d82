"""The delivery record: delivery attempts, caused messages, SMTP sessions, failed logins

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 07:00:00

Filled by `mailbasic delivery-log` from Postfix's own log (and milter_connections by the
milter), with the reader's position in the log kept in log_positions.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('log_positions',
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('inode', sa.BigInteger(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('fingerprint', sa.Text(), nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint('"offset" >= 0', name=op.f('ck_log_positions_offset')),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_log_positions'))
    )
    op.create_table('delivery_attempts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('queue_id', sa.Text(), nullable=False),
    sa.Column('recipient', sa.Text(), nullable=False),
    sa.Column('orig_recipient', sa.Text(), nullable=True),
    sa.Column('attempted_at', TIMESTAMP, nullable=False),
    sa.Column('service', sa.Text(), nullable=False),
    sa.Column('relay', sa.Text(), nullable=False),
    sa.Column('delay', sa.Float(), nullable=False),
    sa.Column('dsn', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('sent', 'deferred', 'bounced', 'expired', "
                       "'undeliverable', 'deliverable')",
                       name=op.f('ck_delivery_attempts_status')),
    sa.CheckConstraint("dsn ~ '^[245]\\.[0-9]{1,3}\\.[0-9]{1,3}$'",
                       name=op.f('ck_delivery_attempts_dsn')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts'))
    )
    op.create_index('ix_delivery_attempts_queue_id', 'delivery_attempts', ['queue_id'])
    op.create_index('ix_delivery_attempts_recipient', 'delivery_attempts', ['recipient'])
    op.create_index('ix_delivery_attempts_attempted_at', 'delivery_attempts',
                    ['attempted_at'])
    op.create_table('queue_links',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('queue_id', sa.Text(), nullable=False),
    sa.Column('caused_queue_id', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('linked_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("kind IN ('non-delivery notification', 'delay notification', "
                       "'delivery notification', 'success notification', "
                       "'vacation reply', 'filter notification')",
                       name=op.f('ck_queue_links_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_links'))
    )
    op.create_index('ix_queue_links_queue_id', 'queue_links', ['queue_id'])
    op.create_index('ix_queue_links_caused_queue_id', 'queue_links', ['caused_queue_id'])
    op.create_table('smtp_sessions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('service', sa.Text(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('connected_at', TIMESTAMP, nullable=False),
    sa.Column('ended_at', TIMESTAMP, nullable=True),
    sa.Column('client_name', sa.Text(), nullable=False),
    sa.Column('client_address', sa.Text(), nullable=False),
    sa.Column('client_port', sa.Integer(), nullable=True),
    sa.Column('tls', sa.Text(), nullable=True),
    sa.Column('auth_user', sa.Text(), nullable=True),
    sa.Column('end', sa.Text(), nullable=True),
    sa.Column('commands', sa.Text(), nullable=True),
    sa.Column('refusals', postgresql.JSONB(astext_type=sa.Text()), server_default='[]',
              nullable=False),
    sa.Column('queue_ids', postgresql.ARRAY(sa.Text()), server_default='{}',
              nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_sessions'))
    )
    op.create_index('ix_smtp_sessions_connected_at', 'smtp_sessions', ['connected_at'])
    op.create_index('ix_smtp_sessions_client_address', 'smtp_sessions', ['client_address'])
    op.create_table('smtp_auth_attempts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=True),
    sa.Column('attempted_at', TIMESTAMP, nullable=False),
    sa.Column('client_address', sa.Text(), nullable=False),
    sa.Column('mechanism', sa.Text(), nullable=False),
    sa.Column('username', sa.Text(), nullable=True),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['smtp_sessions.id'],
                            name=op.f('fk_smtp_auth_attempts_session_id_smtp_sessions'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_auth_attempts'))
    )
    op.create_index('ix_smtp_auth_attempts_attempted_at', 'smtp_auth_attempts',
                    ['attempted_at'])
    op.create_index('ix_smtp_auth_attempts_client_address', 'smtp_auth_attempts',
                    ['client_address'])
    op.create_index(op.f('ix_smtp_auth_attempts_session_id'), 'smtp_auth_attempts',
                    ['session_id'])
    op.create_table('milter_connections',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('connected_at', TIMESTAMP, nullable=False),
    sa.Column('closed_at', TIMESTAMP, nullable=False),
    sa.Column('client_address', sa.Text(), nullable=False),
    sa.Column('client_port', sa.Integer(), nullable=True),
    sa.Column('client_name', sa.Text(), nullable=False),
    sa.Column('helo', sa.Text(), nullable=False),
    sa.Column('tls', sa.Text(), nullable=True),
    sa.Column('transactions', sa.Integer(), nullable=False),
    sa.CheckConstraint('transactions >= 0', name=op.f('ck_milter_connections_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milter_connections'))
    )
    op.create_index('ix_milter_connections_client', 'milter_connections',
                    ['client_address', 'client_port'])
    op.create_index('ix_milter_connections_connected_at', 'milter_connections',
                    ['connected_at'])


def downgrade() -> None:
    for table in ('milter_connections', 'smtp_auth_attempts', 'smtp_sessions',
                  'queue_links', 'delivery_attempts', 'log_positions'):
        op.drop_table(table)
