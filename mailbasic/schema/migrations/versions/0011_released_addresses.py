"""Released addresses, held before anyone else may take them

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 04:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('released_addresses',
    sa.Column('address', postgresql.CITEXT(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_released_addresses'))
    )


def downgrade() -> None:
    op.drop_table('released_addresses')
