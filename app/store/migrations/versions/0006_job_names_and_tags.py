"""a job's optional name and tags, searchable

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("tags", sa.String(length=400), nullable=True))  # ",a,b," for LIKE
        batch.create_index("ix_jobs_name", ["name"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_name")
        batch.drop_column("tags")
        batch.drop_column("name")
