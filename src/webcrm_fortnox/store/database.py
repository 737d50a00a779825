"""Opening the state database: URL handling, async engine, migrations to the newest schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant: the advisory lock that keeps two processes from migrating at once.
_MIGRATION_LOCK = 0x57464E58
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000


class StoreUrlError(ValueError):
    """The state-store URL names a backend this program does not support."""


def async_url(url: str) -> sa.URL:
    """The async-driver form of a state-store URL.

    ``sqlite:///file.db`` becomes ``sqlite+aiosqlite:///file.db`` and ``postgresql://…`` becomes
    ``postgresql+psycopg://…``; URLs that already name those drivers are kept.

    Raises:
        StoreUrlError: another backend or driver.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend == "sqlite" and driver in ("pysqlite", "aiosqlite"):
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql" and driver in ("psycopg2", "psycopg", "psycopg_async"):
        # SQLAlchemy reports plain "postgresql://" as psycopg2; psycopg 3 is what is installed.
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreUrlError(
        f"unsupported state store URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
    )


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine for ``url``; on PostgreSQL, ``schema`` (created if missing) is used.

    Args:
        url: the state-store URL (see :func:`async_url`).
        schema: a PostgreSQL schema to keep the tables in (isolates test runs and deployments
            sharing one database); ignored on SQLite, where the file is the unit of isolation.
    """
    parsed = async_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise StoreUrlError(f"invalid schema name {schema!r}")
        connect_args["options"] = f"-csearch_path={schema}"
    # A PostgreSQL connection in the pool may have been closed by a server restart meanwhile:
    # checked before each use. A SQLite file's cannot, and a check is a round trip through
    # aiosqlite's thread on each of the many short connections of a cycle.
    postgresql = parsed.get_backend_name() == "postgresql"
    engine = create_async_engine(parsed, connect_args=connect_args, pool_pre_ping=postgresql)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while a record's outcome commits; busy_timeout makes a second
    # process wait for the lock instead of failing at once (writers of this process queue in
    # :class:`webcrm_fortnox.store.sql.Writer` instead).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
    cursor.close()


async def migrate(engine: AsyncEngine, *, schema: str | None = None) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``), creating it if new."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            if schema is not None:
                await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        await conn.run_sync(_upgrade)


def _upgrade(connection: sa.Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
