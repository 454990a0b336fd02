"""server-side sessions; a closed account's address can sign up again; who started
each loan and whether the other party has answered

Revision ID: b7e1a9c2d4f0
Revises: a41c0d5e8f21
Create Date: 2026-12-01 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b7e1a9c2d4f0"
down_revision = "a41c0d5e8f21"
branch_labels = None
depends_on = None

OPEN = sa.text("state <> 'closed'")


def upgrade():
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_sessions_token_hash")),
    )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_sessions_user_id"), ["user_id"], unique=False)

    # One open account per address; closed ones keep theirs for their old loans.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_email", type_="unique")
    op.create_index(
        "uq_users_email_open",
        "users",
        ["email"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    # A password chosen before the address was proven may be a stranger's: the owner
    # chooses one when they follow the (new) confirmation link.
    op.execute("UPDATE users SET password_hash = NULL WHERE state IN ('invited', 'pending')")

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("initiator_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "counterparty_answered", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.create_index(batch_op.f("ix_loans_initiator_id"), ["initiator_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_loans_initiator_id_users"), "users", ["initiator_id"], ["id"]
        )
    op.execute(
        "UPDATE loans SET initiator_id = (SELECT a.actor_id FROM audit_events a "
        "WHERE a.loan_id = loans.id AND a.event = 'create' ORDER BY a.id LIMIT 1)"
    )
    op.execute(
        "UPDATE loans SET counterparty_answered = TRUE WHERE EXISTS (SELECT 1 FROM "
        "audit_events a WHERE a.loan_id = loans.id AND a.actor_id IS NOT NULL "
        "AND a.actor_id <> loans.initiator_id)"
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.alter_column("counterparty_answered", server_default=None)


def downgrade():
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_loans_initiator_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_loans_initiator_id"))
        batch_op.drop_column("counterparty_answered")
        batch_op.drop_column("initiator_id")
    op.drop_index("uq_users_email_open", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_users_email", ["email"])
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_sessions_user_id"))
    op.drop_table("login_sessions")
