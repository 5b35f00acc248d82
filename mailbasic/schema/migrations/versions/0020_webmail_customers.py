"""Webmail: each customer's mailboxes see only each other in SOGo's user searches

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 12:55:00

SOGo's sharing dialogs search its user source for names and addresses. Without a
boundary that search lists every webmail user of every customer. sogo_users gets the
column c_domain, one value per customer, which SOGo's DomainFieldName adds to every
search (a user sees the users of its own "domain" only): a customer finds its own
mailboxes and nobody else's. Logins are looked up by exact name and do not use it.
"""

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

SOGO_USERS = """
    SELECT p.username AS c_uid, p.username AS c_name, p.password AS c_password,
           p.username AS c_cn, p.username AS mail{domain}
    FROM dovecot_passwords p{join}
    WHERE NOT p.suspended AND 'webmail' = ANY(p.protocols)"""


def upgrade() -> None:
    op.execute("CREATE OR REPLACE VIEW sogo_users AS " + SOGO_USERS.format(
        domain=",\n           'customer-' || m.customer_id AS c_domain",
        join="\n    JOIN mailboxes m ON m.id = p.mailbox_id"))


def downgrade() -> None:
    # A view loses a column only by being made anew.
    op.execute("DROP VIEW sogo_users")
    op.execute("CREATE VIEW sogo_users AS " + SOGO_USERS.format(domain="", join=""))
