"""mail preferences: how each person wants each optional notifier

Revision ID: d7a3c1e9b2f4
Revises: c4d2e8f1a3b5
Create Date: 2026-12-01 20:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "d7a3c1e9b2f4"
down_revision = "c4d2e8f1a3b5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("notifier", sa.String(length=40), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id", "notifier"),
    )


def downgrade():
    op.drop_table("mail_preferences")
