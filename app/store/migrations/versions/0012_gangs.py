"""gangs: a job's replicas, and its ranks' slots, addresses and heartbeats

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("replicas", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "gang_ranks",
        sa.Column(
            "job_id", sa.String(length=32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("rank", sa.Integer(), primary_key=True),
        sa.Column("queue", sa.String(length=300), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_gang_ranks_queue", "gang_ranks", ["queue"])
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("ranks", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("ranks")
    op.drop_index("ix_gang_ranks_queue", table_name="gang_ranks")
    op.drop_table("gang_ranks")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("replicas")
