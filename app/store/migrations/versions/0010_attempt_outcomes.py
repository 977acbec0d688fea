"""one word for an attempt whose lease ran out: the reconciler wrote "lost", the API and
the worker said "lease_lost" (tfjobs.AttemptOutcome.LEASE_LOST)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE attempts SET outcome = 'lease_lost' WHERE outcome = 'lost'"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE attempts SET outcome = 'lost' WHERE outcome = 'lease_lost'"))
