"""Webmail (SOGo): its logins, recorded per mailbox, and the view it authenticates on

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 11:50:00

SOGo logs in to Dovecot on a listener of its own (mailbasic/mtaconfig.py); Dovecot's
last_login plugin reports those logins as the service "webmail", which the trigger turns
into mailboxes.last_webmail_login_at. dovecot_passwords now also says whether a login
may use the webmail ("webmail" in protocols), and sogo_users is SOGo's SQL user source:
only the mailboxes whose webmail may be used now, found by their primary address.
"""

from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

DOVECOT_PASSWORDS = """
    SELECT m.id AS mailbox_id, p.local_part, d.name AS domain,
           lower(p.local_part || '@' || d.name) AS username,
           m.password_hash AS password,
           m.suspended_at IS NOT NULL AS suspended,
           array_remove(ARRAY[
               CASE WHEN m.allow_imap THEN 'imap' END,
               CASE WHEN m.allow_pop3 THEN 'pop3' END,
               CASE WHEN m.allow_smtp AND m.submission_suspended_at IS NULL
                    THEN 'smtp' END{webmail}], NULL) AS protocols,
           coalesce(c.app_passwords_only, false) AS app_passwords_only
    FROM mailboxes m
    JOIN addresses p ON p.mailbox_id = m.id AND p.is_primary
    JOIN domains d ON d.id = p.domain_id
    LEFT JOIN customer_credentials c ON c.customer_id = m.customer_id"""

# SOGo's SQL user source (its documented columns): the login and the unique id are both
# the primary address in lower case, the password Dovecot's "{BLF-CRYPT}..." (SOGo's
# prependPasswordScheme). A suspended mailbox, or one without webmail, has no row: SOGo
# refuses its login like a wrong password, and Dovecot's own check stops it as well.
SOGO_USERS = """
CREATE VIEW sogo_users AS
    SELECT username AS c_uid, username AS c_name, password AS c_password,
           username AS c_cn, username AS mail
    FROM dovecot_passwords
    WHERE NOT suspended AND 'webmail' = ANY(protocols)"""


def _record_login(services: tuple[str, ...]) -> str:
    """The trigger's function (migration 0005), run with its owner's rights (0010): Dovecot's
    role may not write mailboxes itself."""
    assignments = ",\n        ".join(
        f"last_{service}_login_at = CASE WHEN NEW.service = '{service}'"
        f" THEN to_timestamp(NEW.logged_in_at) ELSE m.last_{service}_login_at END"
        for service in services)
    return f"""
CREATE OR REPLACE FUNCTION record_dovecot_login() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE mailboxes m SET
        {assignments}
    FROM addresses p JOIN domains d ON d.id = p.domain_id
    WHERE p.mailbox_id = m.id AND p.is_primary
        AND p.local_part = split_part(NEW.username, '@', 1)
        AND d.name = split_part(NEW.username, '@', 2);
    RETURN NULL;
END
$$;"""


def upgrade() -> None:
    op.add_column('mailboxes', sa.Column('last_webmail_login_at',
                                         sa.DateTime(timezone=True), nullable=True))
    op.execute("CREATE OR REPLACE VIEW dovecot_passwords AS " + DOVECOT_PASSWORDS.format(
        webmail=",\n               CASE WHEN m.allow_webmail THEN 'webmail' END"))
    op.execute(SOGO_USERS)
    op.execute(_record_login(("imap", "pop3", "webmail")))


def downgrade() -> None:
    op.execute(_record_login(("imap", "pop3")))
    op.execute("DROP VIEW sogo_users")
    op.execute("CREATE OR REPLACE VIEW dovecot_passwords AS "
               + DOVECOT_PASSWORDS.format(webmail=""))
    op.drop_column('mailboxes', 'last_webmail_login_at')
