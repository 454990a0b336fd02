"""a note on a loan event: the reason for a dispute, the outcome of one, or a word
that comes with any other step

Revision ID: c4d2e8f1a3b5
Revises: b7e1a9c2d4f0
Create Date: 2026-12-01 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4d2e8f1a3b5"
down_revision = "b7e1a9c2d4f0"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("note")
