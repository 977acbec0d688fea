"""sweeps, and a job's place in one (sweep_id, trial_number, params); on PostgreSQL the
schema `optuna` for the search's own tables (they carry an alembic_version of their own)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column(
            "num", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("pruner", sa.JSON(), nullable=True),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("max_trials", sa.Integer(), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("advancing_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_sweeps_id", "sweeps", ["id"], unique=True)
    op.create_index("ix_sweeps_owner", "sweeps", ["owner"])
    op.create_index("ix_sweeps_status", "sweeps", ["status"])
    op.create_index("ix_sweeps_owner_idempotency", "sweeps", ["owner", "idempotency_key"], unique=True)
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("trial_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.create_foreign_key("fk_jobs_sweep_id", "sweeps", ["sweep_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_jobs_sweep_id", ["sweep_id"])
        batch.create_index("ix_jobs_sweep_trial", ["sweep_id", "trial_number"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SCHEMA IF NOT EXISTS optuna")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_sweep_trial")
        batch.drop_index("ix_jobs_sweep_id")
        batch.drop_constraint("fk_jobs_sweep_id", type_="foreignkey")
        batch.drop_column("params")
        batch.drop_column("trial_number")
        batch.drop_column("sweep_id")
    op.drop_table("sweeps")
