"""each person's language and time zone: pages, mail and the daily digest use them

Revision ID: f3c9a1d5e7b2
Revises: e2b8f4d6a1c3
Create Date: 2026-12-01 22:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "f3c9a1d5e7b2"
down_revision = "e2b8f4d6a1c3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("locale", sa.String(length=16), nullable=False, server_default="en")
        )
        batch.add_column(
            sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC")
        )


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("locale")
