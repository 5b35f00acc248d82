"""mailbox rules: spam settings, sender lists, filters, forwards, vacation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 22:40:47.475769
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Dovecot's Pigeonhole reads one Sieve script per user from this view through its dict
# storage (sieve_before = dict:proxy::sieve;name=delivery). The milter files a message by
# rewriting the recipient to login+TOKEN@domain; the script maps each TOKEN back to its
# folder. TOKEN must equal mailbasic.rules.folders.folder_token(name). The script id is a
# hash of its text, so Pigeonhole recompiles exactly when the folders change.
# (Colons are escaped with a backslash for SQLAlchemy's text().)
DELIVERY_SCRIPTS = r"""
CREATE VIEW dovecot_delivery_scripts AS
SELECT username, 'delivery'::text AS name, md5(script) AS id, script
FROM (
    SELECT lower(p.local_part || '@' || d.name) AS username,
           'require ["fileinto", "mailbox", "envelope", "subaddress"];' || E'\n'
           || string_agg(format('if envelope \:detail "to" "%s" { fileinto \:create "%s"; stop; }',
                                'f' || left(encode(sha256(convert_to(f.name, 'UTF8')), 'hex'), 12),
                                replace(replace(f.name, E'\\', E'\\\\'), '"', E'\\"')),
                         E'\n' ORDER BY f.name) AS script
    FROM mailboxes m
    JOIN addresses p ON p.mailbox_id = m.id AND p.is_primary
    JOIN domains d ON d.id = p.domain_id
    CROSS JOIN LATERAL (
        SELECT 'Spam'::text AS name
        UNION
        SELECT name FROM delivery_folders WHERE mailbox_id = m.id
    ) f
    GROUP BY p.local_part, d.name
) scripts
"""


def upgrade() -> None:
    op.create_table('delivery_folders',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.CheckConstraint("length(name) BETWEEN 1 AND 200 AND name !~ '[[:cntrl:]]' AND name !~ '^/|/$|//'", name=op.f('ck_delivery_folders_name_syntax')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_delivery_folders_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', 'name', name=op.f('pk_delivery_folders'))
    )
    op.create_table('mailbox_rules',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('spam_filter_enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('spam_threshold', sa.Numeric(precision=4, scale=1), server_default='5.0', nullable=False),
    sa.Column('spam_action', sa.Enum('tag', 'folder', 'delete', name='spam_action'), server_default='tag', nullable=False),
    sa.Column('filters', sa.Text(), server_default='', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('length(filters) <= 65536', name=op.f('ck_mailbox_rules_filters_size')),
    sa.CheckConstraint('spam_threshold BETWEEN -100 AND 100', name=op.f('ck_mailbox_rules_threshold_range')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailbox_rules_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_mailbox_rules'))
    )
    op.create_table('sender_list_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('list', sa.Enum('whitelist', 'blacklist', name='sender_list'), nullable=False),
    sa.Column('sender', postgresql.CITEXT(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("sender ~ '^([^@\\s]+@|@)[^@\\s]+\\.[^@\\s]+$'", name=op.f('ck_sender_list_entries_sender_syntax')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_sender_list_entries_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_list_entries')),
    sa.UniqueConstraint('mailbox_id', 'sender', name=op.f('uq_sender_list_entries_mailbox_id_sender'))
    )
    op.create_table('vacation_replies',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('sender', postgresql.CITEXT(), nullable=False),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_vacation_replies_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', 'sender', name=op.f('pk_vacation_replies'))
    )
    op.create_table('vacations',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('subject', sa.Text(), server_default='', nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('interval_days', sa.SmallInteger(), server_default='7', nullable=False),
    sa.CheckConstraint("subject !~ '[[:cntrl:]]' AND length(subject) <= 200", name=op.f('ck_vacations_subject_syntax')),
    sa.CheckConstraint('interval_days BETWEEN 1 AND 365', name=op.f('ck_vacations_interval_range')),
    sa.CheckConstraint('last_day >= first_day', name=op.f('ck_vacations_dates_in_order')),
    sa.CheckConstraint('length(body) BETWEEN 1 AND 10000', name=op.f('ck_vacations_body_size')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_vacations_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_vacations'))
    )
    op.create_table('forwards',
    sa.Column('address_id', sa.Integer(), nullable=False),
    sa.Column('target', postgresql.CITEXT(), nullable=False),
    sa.Column('keep_copy', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("target ~ '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'", name=op.f('ck_forwards_target_syntax')),
    sa.ForeignKeyConstraint(['address_id'], ['addresses.id'], name=op.f('fk_forwards_address_id_addresses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('address_id', name=op.f('pk_forwards'))
    )
    op.execute(sa.text(DELIVERY_SCRIPTS))  # text(): the Sieve tags' colons are escaped


def downgrade() -> None:
    op.execute("DROP VIEW dovecot_delivery_scripts")
    op.drop_table('forwards')
    op.drop_table('vacations')
    op.drop_table('vacation_replies')
    op.drop_table('sender_list_entries')
    op.drop_table('mailbox_rules')
    op.drop_table('delivery_folders')
    op.execute("DROP TYPE sender_list")
    op.execute("DROP TYPE spam_action")
