"""Engines, sessions and schema migration for the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Store", "migrate"]

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 727_001  # PostgreSQL advisory lock id: one migrator at a time


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # once per new connection
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker writes; the busy timeout makes writers queue
    # instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, pool: tuple[int, int] | None = None) -> Engine:
    """``pool``: (size, overflow) for a process's side use (probes, background loops);
    default: sized for the API's request threads."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A pool at least as large as the API's thread pool: past the pool, each request
        # would open a connection and run the pragmas above (a WAL switch takes a lock),
        # then close it — under 50 concurrent clients that was an eighth of the API's time.
        size, overflow = pool or (16, 24)
        engine = create_engine(
            url,
            pool_size=size,
            max_overflow=overflow,
            connect_args={"check_same_thread": False, "timeout": 10},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # Always UTF-8 on the wire: a server initialised without a locale (SQL_ASCII) would
    # otherwise hand psycopg raw bytes for every text column, version() included.
    size, overflow = pool or (10, 20)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=size,
        max_overflow=overflow,
        connect_args={"client_encoding": "utf8", "connect_timeout": 5},
    )


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest migration (safe to call from every process)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """An engine and its session factory: one per process and use (the API's requests, its
    background loops and its probes each have their own, so none can starve another)."""

    def __init__(self, url: str, *, pool: tuple[int, int] | None = None) -> None:
        self.engine = make_engine(url, pool)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
