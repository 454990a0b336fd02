"""loans (lender_id, id, state) and (borrower_id, id, state): a user's loans a page at a time

Revision ID: a41c0d5e8f21
Revises: 3cad2b94408d
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "a41c0d5e8f21"
down_revision = "3cad2b94408d"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index("ix_loans_lender_id_id_state", ["lender_id", "id", "state"], unique=False)
        batch_op.create_index("ix_loans_borrower_id_id_state", ["borrower_id", "id", "state"], unique=False)


def downgrade():
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_borrower_id_id_state")
        batch_op.drop_index("ix_loans_lender_id_id_state")
