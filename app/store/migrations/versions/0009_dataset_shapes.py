"""a dataset's row shape and number of classes (images, sequences, multiclass labels)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("shape", sa.JSON(), nullable=True))  # null: a table of `features` columns
        batch.add_column(sa.Column("classes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("classes")
        batch.drop_column("shape")
