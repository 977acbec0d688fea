"""the scheduler: a job's priority, requested device and the worker queue it was sent
to; a worker's queue and kind; the one-row lock of dispatch passes

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("device_request", sa.String(length=8), nullable=False, server_default="auto")
        )
        batch.add_column(sa.Column("dispatched_to", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_jobs_waiting", ["status", "owner", "priority", "num"])
        batch.create_index("ix_jobs_dispatched", ["dispatched_to", "status"])
        batch.create_index("ix_jobs_owner_sent", ["owner", "dispatched_at"])
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("queue", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(length=8), nullable=False, server_default="cpu"))
        batch.create_index("ix_workers_queue", ["queue"])
    op.create_table(
        "scheduler",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("passes", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute("INSERT INTO scheduler (id, passes) VALUES (1, 0)")
    # Jobs queued before the scheduler existed were sent to the shared queue: leave them
    # undispatched, so the scheduler sends each once more to a worker that consumes it.


def downgrade() -> None:
    op.drop_table("scheduler")
    with op.batch_alter_table("workers") as batch:
        batch.drop_index("ix_workers_queue")
        batch.drop_column("kind")
        batch.drop_column("queue")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_owner_sent")
        batch.drop_index("ix_jobs_dispatched")
        batch.drop_index("ix_jobs_waiting")
        batch.drop_column("dispatched_at")
        batch.drop_column("dispatched_to")
        batch.drop_column("device_request")
        batch.drop_column("priority")
