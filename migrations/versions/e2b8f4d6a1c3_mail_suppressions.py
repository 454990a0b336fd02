"""addresses that hard-bounced: counted, then suppressed

Revision ID: e2b8f4d6a1c3
Revises: d7a3c1e9b2f4
Create Date: 2026-12-01 20:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e2b8f4d6a1c3"
down_revision = "d7a3c1e9b2f4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_suppressions",
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("suppressed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )


def downgrade():
    op.drop_table("mail_suppressions")
