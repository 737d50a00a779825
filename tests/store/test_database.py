"""Opening the state database: URLs, migrations, reopening."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.store import StateDatabase, StoreUrlError, async_url
from webcrm_fortnox.store.schema import metadata


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///state.db", "sqlite+aiosqlite:///state.db"),
        ("sqlite+aiosqlite:///state.db", "sqlite+aiosqlite:///state.db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_urls_get_the_async_driver(given: str, used: str) -> None:
    assert async_url(given).render_as_string() == used


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+asyncpg://u@h/db"])
def test_other_backends_are_refused_by_name(url: str) -> None:
    with pytest.raises(StoreUrlError, match="unsupported state store URL"):
        async_url(url)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_migrations_create_exactly_the_declared_tables(
    backend: str, tmp_path: Path
) -> None:
    async for db in open_database(backend, tmp_path):
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
        assert differences == []


async def test_reopening_keeps_the_data_and_migrates_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    async with await StateDatabase.open(url) as db:
        await db.tenant("acme").save_link("customer", "17", "1001", {"name": "Acme"})

    async with await StateDatabase.open(url) as db:
        links = await db.tenant("acme").links("customer")

    assert [link.base for link in links] == [{"name": "Acme"}]
