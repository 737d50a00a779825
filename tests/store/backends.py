"""State databases for tests: a SQLite file per test, and PostgreSQL when the environment has it.

PostgreSQL tests run only when ``WEBCRM_FORTNOX_TEST_POSTGRES_URL`` is set; each test gets its own
schema, dropped afterwards, so parallel runs against one server never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.database import create_engine

POSTGRES_ENV = "WEBCRM_FORTNOX_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str:
    """The test server's URL, or skip the test with instructions."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    return url


async def open_database(
    backend: str, tmp_path: Path, *, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[StateDatabase]:
    """Yield a freshly migrated state database on ``backend``; drop it afterwards."""
    kwargs = {} if clock is None else {"clock": clock}
    if backend == "sqlite":
        db = await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}", **kwargs)
        try:
            yield db
        finally:
            await db.close()
        return
    url = postgres_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    db = await StateDatabase.open(url, schema=schema, **kwargs)
    try:
        yield db
    finally:
        await db.close()
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


async def second_connection(db: StateDatabase) -> StateDatabase:
    """Another state database on ``db``'s tables, as a second process would open it."""
    url = db.engine.url.render_as_string(hide_password=False)
    schema = None
    if db.engine.dialect.name == "postgresql":
        async with db.engine.connect() as conn:
            schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar()
    return await StateDatabase.open(url, schema=schema)
