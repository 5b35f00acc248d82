"""Dovecot reports IMAP and POP3 logins (last_login plugin) into the mailbox's
last_imap_login_at / last_pop3_login_at

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

# Dovecot's dict upserts (INSERT ... ON CONFLICT (username, service) DO UPDATE), so the
# table keeps its key; the trigger records the login on the mailbox instead of the row.
# The user name is the mailbox's primary address in lower case (dovecot-sql.conf.ext).
RECORD_LOGIN = """
CREATE FUNCTION record_dovecot_login() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mailboxes m SET
        last_imap_login_at = CASE WHEN NEW.service = 'imap'
            THEN to_timestamp(NEW.logged_in_at) ELSE m.last_imap_login_at END,
        last_pop3_login_at = CASE WHEN NEW.service = 'pop3'
            THEN to_timestamp(NEW.logged_in_at) ELSE m.last_pop3_login_at END
    FROM addresses p JOIN domains d ON d.id = p.domain_id
    WHERE p.mailbox_id = m.id AND p.is_primary
        AND p.local_part = split_part(NEW.username, '@', 1)
        AND d.name = split_part(NEW.username, '@', 2);
    RETURN NULL;
END
$$;
CREATE TRIGGER record_login BEFORE INSERT ON dovecot_logins
    FOR EACH ROW EXECUTE FUNCTION record_dovecot_login();
"""


def upgrade() -> None:
    op.create_table('dovecot_logins',
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('service', sa.Text(), nullable=False),
    sa.Column('logged_in_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('username', 'service', name=op.f('pk_dovecot_logins'))
    )
    op.execute(RECORD_LOGIN)


def downgrade() -> None:
    op.drop_table('dovecot_logins')
    op.execute("DROP FUNCTION record_dovecot_login()")
