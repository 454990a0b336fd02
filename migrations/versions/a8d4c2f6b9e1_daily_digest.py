"""the daily digest: held rows name the digest that carried them; one digest a day

Revision ID: a8d4c2f6b9e1
Revises: f3c9a1d5e7b2
Create Date: 2026-12-02 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "a8d4c2f6b9e1"
down_revision = "f3c9a1d5e7b2"
branch_labels = None
depends_on = None

HAS_DAY = sa.text("digest_day IS NOT NULL")


def upgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("digest_day", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_notifications_digest_id"), ["digest_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_digest_id_notifications"),
            "notifications",
            ["digest_id"],
            ["id"],
        )
    # Exactly one digest per person and day of theirs: a second clock's insert fails.
    op.create_index(
        "uq_notifications_digest_day",
        "notifications",
        ["recipient_id", "digest_day"],
        unique=True,
        sqlite_where=HAS_DAY,
        postgresql_where=HAS_DAY,
    )


def downgrade():
    op.drop_index("uq_notifications_digest_day", table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_notifications_digest_id_notifications"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_notifications_digest_id"))
        batch_op.drop_column("digest_day")
        batch_op.drop_column("digest_id")
