"""Lookup views for Postfix and Dovecot, so each reads only what it needs

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 04:00:00

Postfix and Dovecot log in with roles of their own (mailbasic.schema.privileges), which
may read these views and nothing of the tables below them: no password hash reaches
Postfix, no customer data reaches either. A view runs with its owner's rights, so the
roles need no right on the tables.
"""

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

VIEWS = {
    # Hosted domains.
    "postfix_domains": "SELECT name FROM domains",
    # Every address and the mailbox (its primary address, the login) it reaches.
    "postfix_addresses": """
        SELECT a.local_part, d.name AS domain, a.is_primary,
               p.local_part || '@' || pd.name AS mailbox
        FROM addresses a
        JOIN domains d ON d.id = a.domain_id
        JOIN addresses p ON p.mailbox_id = a.mailbox_id AND p.is_primary
        JOIN domains pd ON pd.id = p.domain_id""",
    "postfix_catch_alls": """
        SELECT d.name AS domain, p.local_part || '@' || pd.name AS mailbox
        FROM domains d
        JOIN addresses p ON p.mailbox_id = d.catch_all_mailbox_id AND p.is_primary
        JOIN domains pd ON pd.id = p.domain_id""",
    # Dovecot's passdb and userdb: one row per mailbox, found by its login.
    "dovecot_users": """
        SELECT p.local_part, d.name AS domain,
               lower(p.local_part || '@' || d.name) AS username,
               m.password_hash AS password, m.id AS mailbox_id, m.quota_bytes
        FROM mailboxes m
        JOIN addresses p ON p.mailbox_id = m.id AND p.is_primary
        JOIN domains d ON d.id = p.domain_id""",
}


def upgrade() -> None:
    for name, query in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {query}")
    # Dovecot inserts into dovecot_logins; the trigger records the login on the mailbox,
    # which Dovecot's role may not write: the function runs with its owner's rights.
    op.execute("ALTER FUNCTION record_dovecot_login() SECURITY DEFINER")
    op.execute("ALTER FUNCTION record_dovecot_login() SET search_path = public")


def downgrade() -> None:
    op.execute("ALTER FUNCTION record_dovecot_login() RESET search_path")
    op.execute("ALTER FUNCTION record_dovecot_login() SECURITY INVOKER")
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW {name}")
