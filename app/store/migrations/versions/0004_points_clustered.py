"""metric points clustered by (job_id, seq) on SQLite

A cursor read is a range of one job's points. SQLite keeps a rowid table ordered by
insertion and the primary key in a separate index, so each of the 1,000 rows of a page
is a second lookup; WITHOUT ROWID stores the rows in primary-key order, and the page
becomes one contiguous scan. PostgreSQL reads through its primary-key index already.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("""
        CREATE TABLE metric_points_clustered (
            job_id VARCHAR(32) NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            kind VARCHAR(8) NOT NULL,
            epoch INTEGER NOT NULL,
            step INTEGER NOT NULL,
            time DATETIME NOT NULL,
            "values" JSON NOT NULL,
            payload TEXT,
            PRIMARY KEY (job_id, seq)
        ) WITHOUT ROWID""")
    op.execute(
        "INSERT INTO metric_points_clustered SELECT job_id, seq, kind, epoch, step, time, "
        '"values", payload FROM metric_points'
    )
    op.execute("DROP TABLE metric_points")
    op.execute("ALTER TABLE metric_points_clustered RENAME TO metric_points")


def downgrade() -> None:
    _ = sa  # the rowid table is only slower, never wrong: nothing to undo
