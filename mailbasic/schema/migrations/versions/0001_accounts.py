"""accounts: customers, domains, mailboxes, addresses

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 19:09:37.766269

The account rules the constraints cannot express row by row are the deferred constraint
triggers at the end: at commit, every mailbox has its primary address.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# Checked at commit (deferred), so that a transaction may create a mailbox and then its
# primary address, or move addresses around, as long as it ends consistent.
PRIMARY_ADDRESS_FUNCTION = """
CREATE FUNCTION mailbox_has_primary_address() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    checked integer;
BEGIN
    IF TG_TABLE_NAME = 'mailboxes' THEN
        checked := NEW.id;
    ELSE
        checked := OLD.mailbox_id;
    END IF;
    IF EXISTS (SELECT 1 FROM mailboxes WHERE id = checked)
       AND NOT EXISTS (SELECT 1 FROM addresses WHERE mailbox_id = checked AND is_primary)
    THEN
        RAISE EXCEPTION 'mailbox % has no primary address', checked
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS citext")
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', postgresql.CITEXT(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("name ~ '^[A-Za-z][A-Za-z0-9.-]{4,29}$'", name=op.f('ck_customers_name_syntax')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('name', name=op.f('uq_customers_name'))
    )
    op.create_table('domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', postgresql.CITEXT(), nullable=False),
    sa.Column('catch_all_mailbox_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("name::text ~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'", name=op.f('ck_domains_name_syntax')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domains')),
    sa.UniqueConstraint('name', name=op.f('uq_domains_name'))
    )
    op.create_index(op.f('ix_domains_catch_all_mailbox_id'), 'domains', ['catch_all_mailbox_id'], unique=False)
    op.create_table('mailboxes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.SmallInteger(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('quota_bytes', sa.BigInteger(), nullable=False),
    sa.Column('receiving_state', sa.Enum('active', 'deactivated', name='receiving_state'), server_default='active', nullable=False),
    sa.Column('deactivated_reason', sa.Text(), nullable=True),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_pop3_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_imap_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(receiving_state = 'active' AND deactivated_at IS NULL AND deactivated_reason IS NULL) OR (receiving_state = 'deactivated' AND deactivated_at IS NOT NULL)", name=op.f('ck_mailboxes_deactivation_recorded')),
    sa.CheckConstraint("password_hash ~ '^[{][A-Z0-9-]+[}].+'", name=op.f('ck_mailboxes_password_scheme')),
    sa.CheckConstraint('quota_bytes > 0', name=op.f('ck_mailboxes_quota_positive')),
    sa.CheckConstraint('slot BETWEEN 1 AND 2', name=op.f('ck_mailboxes_slot_range')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_mailboxes_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailboxes')),
    sa.UniqueConstraint('customer_id', 'slot', name=op.f('uq_mailboxes_customer_id_slot'))
    )
    op.create_index(op.f('ix_mailboxes_customer_id'), 'mailboxes', ['customer_id'], unique=False)
    op.create_table('addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('local_part', postgresql.CITEXT(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.SmallInteger(), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("local_part ~ '^[A-Za-z][A-Za-z0-9.-]{4,29}$'", name=op.f('ck_addresses_local_part_syntax')),
    sa.CheckConstraint('is_primary = (slot = 1)', name=op.f('ck_addresses_primary_in_first_slot')),
    sa.CheckConstraint('slot BETWEEN 1 AND 6', name=op.f('ck_addresses_slot_range')),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_addresses_domain_id_domains'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_addresses_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses')),
    sa.UniqueConstraint('domain_id', 'local_part', name=op.f('uq_addresses_domain_id_local_part')),
    sa.UniqueConstraint('mailbox_id', 'slot', name=op.f('uq_addresses_mailbox_id_slot'))
    )
    op.create_index(op.f('ix_addresses_mailbox_id'), 'addresses', ['mailbox_id'], unique=False)
    # domains <-> mailboxes reference each other: this key comes after both tables.
    op.create_foreign_key(op.f('fk_domains_catch_all_mailbox_id_mailboxes'), 'domains',
                          'mailboxes', ['catch_all_mailbox_id'], ['id'], ondelete='SET NULL')
    op.execute(PRIMARY_ADDRESS_FUNCTION)
    op.execute("CREATE CONSTRAINT TRIGGER mailboxes_have_primary_address"
               " AFTER INSERT ON mailboxes DEFERRABLE INITIALLY DEFERRED"
               " FOR EACH ROW EXECUTE FUNCTION mailbox_has_primary_address()")
    op.execute("CREATE CONSTRAINT TRIGGER addresses_keep_primary_address"
               " AFTER UPDATE OR DELETE ON addresses DEFERRABLE INITIALLY DEFERRED"
               " FOR EACH ROW EXECUTE FUNCTION mailbox_has_primary_address()")


def downgrade() -> None:
    op.execute("DROP TRIGGER addresses_keep_primary_address ON addresses")
    op.execute("DROP TRIGGER mailboxes_have_primary_address ON mailboxes")
    op.execute("DROP FUNCTION mailbox_has_primary_address()")
    op.drop_constraint(op.f('fk_domains_catch_all_mailbox_id_mailboxes'), 'domains',
                       type_='foreignkey')
    op.drop_index(op.f('ix_addresses_mailbox_id'), table_name='addresses')
    op.drop_table('addresses')
    op.drop_index(op.f('ix_mailboxes_customer_id'), table_name='mailboxes')
    op.drop_table('mailboxes')
    op.drop_index(op.f('ix_domains_catch_all_mailbox_id'), table_name='domains')
    op.drop_table('domains')
    op.drop_table('customers')
    op.execute("DROP TYPE receiving_state")
