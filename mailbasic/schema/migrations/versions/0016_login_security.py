"""Login security: suspension and per-protocol access, app passwords, the brute-force
defence's blocks and known clients, sending incidents

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 09:04:07

Dovecot's passdb reads two new things (mailbasic/mtaconfig.py): the view
dovecot_passwords, where each mailbox's login says which protocols it may use now, and
the function dovecot_app_password_login, which finds an app password by its SHA-256 and
notes its use. The function runs with its owner's rights (Dovecot's role may not write
app_passwords) and only Dovecot's role may call it.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# One row per mailbox, found by its login: the password hash, and what may log in now.
# `protocols` lists the Dovecot services the password opens (SMTP AUTH is "smtp");
# suspended shuts every one; app_passwords_only leaves the mailbox password to webmail
# and the portal.
DOVECOT_PASSWORDS = """
    SELECT m.id AS mailbox_id, p.local_part, d.name AS domain,
           lower(p.local_part || '@' || d.name) AS username,
           m.password_hash AS password,
           m.suspended_at IS NOT NULL AS suspended,
           array_remove(ARRAY[
               CASE WHEN m.allow_imap THEN 'imap' END,
               CASE WHEN m.allow_pop3 THEN 'pop3' END,
               CASE WHEN m.allow_smtp AND m.submission_suspended_at IS NULL
                    THEN 'smtp' END], NULL) AS protocols,
           coalesce(c.app_passwords_only, false) AS app_passwords_only
    FROM mailboxes m
    JOIN addresses p ON p.mailbox_id = m.id AND p.is_primary
    JOIN domains d ON d.id = p.domain_id
    LEFT JOIN customer_credentials c ON c.customer_id = m.customer_id"""

# The login whose app password has this SHA-256 and may use this service, if any. Its
# last use is noted at most once a minute: a phone polling every 10 s writes no row
# each time.
APP_PASSWORD_LOGIN = """
CREATE FUNCTION dovecot_app_password_login(login_local_part text, login_domain text,
                                           secret_sha256 text, service text)
RETURNS TABLE (username text) LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
    found_id integer;
BEGIN
    SELECT a.id, u.username INTO found_id, username
    FROM app_passwords a JOIN dovecot_passwords u ON u.mailbox_id = a.mailbox_id
    WHERE a.secret_sha256 = dovecot_app_password_login.secret_sha256
      AND u.local_part = login_local_part::citext AND u.domain = login_domain::citext
      AND NOT u.suspended
      AND dovecot_app_password_login.service = ANY(a.protocols)
      AND dovecot_app_password_login.service = ANY(u.protocols);
    IF found_id IS NULL THEN
        RETURN;
    END IF;
    UPDATE app_passwords SET last_used_at = now()
    WHERE id = found_id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
    RETURN NEXT;
END
$$"""


def upgrade() -> None:
    op.create_table('auth_blocks',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.Text(), nullable=True),
    sa.CheckConstraint("scope IN ('client', 'network', 'account')", name=op.f('ck_auth_blocks_scope')),
    sa.CheckConstraint('blocked_until > blocked_at', name=op.f('ck_auth_blocks_period')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_blocks'))
    )
    op.create_index('ix_auth_blocks_blocked_until', 'auth_blocks', ['blocked_until'], unique=False)
    op.create_index('ix_auth_blocks_scope_key', 'auth_blocks', ['scope', 'key'], unique=False)
    op.create_table('auth_known_clients',
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('network', sa.Text(), nullable=False),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username', 'network', name=op.f('pk_auth_known_clients'))
    )
    op.create_table('app_passwords',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('secret_sha256', sa.Text(), nullable=False),
    sa.Column('protocols', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("cardinality(protocols) > 0 AND protocols <@ ARRAY['imap', 'pop3', 'smtp']::text[]", name=op.f('ck_app_passwords_protocols')),
    sa.CheckConstraint("secret_sha256 ~ '^[0-9a-f]{64}$'", name=op.f('ck_app_passwords_secret_sha256')),
    sa.CheckConstraint('length(name) BETWEEN 1 AND 64', name=op.f('ck_app_passwords_name_length')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_app_passwords_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_passwords')),
    sa.UniqueConstraint('mailbox_id', 'name', name=op.f('uq_app_passwords_mailbox_id_name')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_app_passwords_secret_sha256'))
    )
    op.create_index(op.f('ix_app_passwords_mailbox_id'), 'app_passwords', ['mailbox_id'], unique=False)
    op.create_table('sending_incidents',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queue_id', sa.Text(), nullable=True),
    sa.Column('client_address', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('suspended_submission', sa.Boolean(), server_default='false', nullable=False),
    sa.CheckConstraint("kind IN ('rate_limit', 'spam')", name=op.f('ck_sending_incidents_kind')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_sending_incidents_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sending_incidents'))
    )
    op.create_index('ix_sending_incidents_mailbox_id_at', 'sending_incidents', ['mailbox_id', 'occurred_at'], unique=False)
    op.add_column('customer_credentials', sa.Column('app_passwords_only', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('mailboxes', sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('mailboxes', sa.Column('suspended_reason', sa.Text(), nullable=True))
    op.add_column('mailboxes', sa.Column('allow_imap', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('mailboxes', sa.Column('allow_pop3', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('mailboxes', sa.Column('allow_smtp', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('mailboxes', sa.Column('allow_webmail', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('mailboxes', sa.Column('submission_suspended_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('mailboxes', sa.Column('submission_suspended_reason', sa.Text(), nullable=True))
    op.create_check_constraint(op.f('ck_mailboxes_suspension_recorded'), 'mailboxes',
                               '(suspended_at IS NULL) = (suspended_reason IS NULL)')
    op.create_check_constraint(op.f('ck_mailboxes_submission_suspension_recorded'),
                               'mailboxes',
                               '(submission_suspended_at IS NULL)'
                               ' = (submission_suspended_reason IS NULL)')
    op.drop_constraint(op.f('ck_login_failures_scope'), 'login_failures', type_='check')
    op.create_check_constraint(op.f('ck_login_failures_scope'), 'login_failures',
                               "scope IN ('account', 'client', 'network')")
    op.execute(f"CREATE VIEW dovecot_passwords AS {DOVECOT_PASSWORDS}")
    op.execute(APP_PASSWORD_LOGIN)
    op.execute("REVOKE ALL ON FUNCTION dovecot_app_password_login(text, text, text, text)"
               " FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION dovecot_app_password_login(text, text, text, text)")
    op.execute("DROP VIEW dovecot_passwords")
    op.execute("DELETE FROM login_failures WHERE scope = 'network'")
    op.drop_constraint(op.f('ck_login_failures_scope'), 'login_failures', type_='check')
    op.create_check_constraint(op.f('ck_login_failures_scope'), 'login_failures', "scope IN ('account', 'client')")
    op.drop_constraint(op.f('ck_mailboxes_submission_suspension_recorded'), 'mailboxes',
                       type_='check')
    op.drop_constraint(op.f('ck_mailboxes_suspension_recorded'), 'mailboxes', type_='check')
    op.drop_column('mailboxes', 'submission_suspended_reason')
    op.drop_column('mailboxes', 'submission_suspended_at')
    op.drop_column('mailboxes', 'allow_webmail')
    op.drop_column('mailboxes', 'allow_smtp')
    op.drop_column('mailboxes', 'allow_pop3')
    op.drop_column('mailboxes', 'allow_imap')
    op.drop_column('mailboxes', 'suspended_reason')
    op.drop_column('mailboxes', 'suspended_at')
    op.drop_column('customer_credentials', 'app_passwords_only')
    op.drop_index('ix_sending_incidents_mailbox_id_at', table_name='sending_incidents')
    op.drop_table('sending_incidents')
    op.drop_index(op.f('ix_app_passwords_mailbox_id'), table_name='app_passwords')
    op.drop_table('app_passwords')
    op.drop_table('auth_known_clients')
    op.drop_index('ix_auth_blocks_scope_key', table_name='auth_blocks')
    op.drop_index('ix_auth_blocks_blocked_until', table_name='auth_blocks')
    op.drop_table('auth_blocks')
