"""filter indexes: the spec fields people filter by most, as expression indexes

PostgreSQL estimates a JSON predicate blindly (0.5 % of rows); with an index on the
expression, ANALYZE keeps statistics for it and the planner picks the right plan — a
filter on model_type and loss over 100,000 jobs went from a 120 ms sequential scan and
sort to a backward walk of the primary key (bench/search.py, docs/benchmarks.md §17).
SQLite reads newest-first by rowid either way: nothing to add there. A database whose
encoding is not UTF-8 (SQL_ASCII, as a bare initdb leaves it) gets none either: there
PostgreSQL cannot evaluate ``->>`` on a spec holding an escaped non-ASCII character, and
an index would make every such insert fail.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: The spec's categorical fields the job list shows and people filter by.
FIELDS = ("model_type", "loss", "dataset")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.exec_driver_sql("SHOW server_encoding").scalar() != "UTF8":
        return
    for field in FIELDS:
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_jobs_spec_{field} ON jobs ((spec ->> '{field}'))")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for field in FIELDS:
        op.execute(f"DROP INDEX IF EXISTS ix_jobs_spec_{field}")
