"""Opening the state database: URLs, migrations, reopening."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.engine.ports import ErrorKind
from webcrm_fortnox.store import StateDatabase, StoreUrlError, async_url, job_queue
from webcrm_fortnox.store.database import MIGRATIONS, create_engine
from webcrm_fortnox.store.queries import ReadModel
from webcrm_fortnox.store.schema import declared, metadata
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.store.state import ExclusionChange


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
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": declared}), metadata
                )
            )
        assert differences == []


async def test_reopening_keeps_the_data_and_migrates_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    async with await StateDatabase.open(url) as db:
        await db.tenant("acme").save_link("customer", "17", "1001", {"name": "Acme"})

    async with await StateDatabase.open(url) as db:
        links = await db.tenant("acme").links("customer")

    assert [link.base for link in links] == [{"name": "Acme"}]


async def test_a_database_of_the_first_schema_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, "0001")
        await conn.execute(
            sa.text(
                "INSERT INTO record_errors (tenant, entity, system, record_id, reason, attempts,"
                " first_seen, last_seen, state) VALUES ('acme', 'customer', 'webcrm', '17',"
                " 'refused', 1, '2026-03-01 12:00:00', '2026-03-01 12:00:00', 'open')"
            )
        )
    await engine.dispose()

    async with await StateDatabase.open(url) as db:
        (error,) = await db.tenant("acme").open_errors()

    assert (error.record_id, error.kind) == ("17", ErrorKind.FAILURE)


def _upgrade_to(connection: sa.Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade_to(connection: sa.Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_the_excluded_sets_of_the_service_become_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, "0005")
        await conn.execute(
            sa.text(
                "INSERT INTO service_state (tenant, key, value, updated_at) VALUES ('acme',"
                " 'excluded', '{\"customer\": [\"12|\", \"13|1002\"]}', '2026-03-01 12:00:00')"
            )
        )
    await engine.dispose()

    async with await StateDatabase.open(url) as db:
        counts = await ReadModel(db).entity_counts("acme")
        values = await ServiceStore(db).values("acme")
        # The one-sided key goes as soon as its record syncs under both ids.
        change = ExclusionChange("customer", "12", "1001", excluded=False)
        await db.tenant("acme").record_exclusions([change])
        after = await ReadModel(db).entity_counts("acme")

    assert [(c.entity, c.excluded) for c in counts] == [("customer", 2)]
    assert "excluded" not in values
    assert [(c.entity, c.excluded) for c in after] == [("customer", 1)]


def test_only_postgresql_connections_are_checked_before_each_use() -> None:
    # A pooled PostgreSQL connection may have been closed by a server restart; a SQLite file's
    # cannot, and checking it is a round trip on each of a cycle's short connections.
    sqlite_engine = create_engine("sqlite:///unused.db")
    postgresql_engine = create_engine("postgresql+psycopg://user@127.0.0.1/unused")

    assert sqlite_engine.sync_engine.pool._pre_ping is False
    assert postgresql_engine.sync_engine.pool._pre_ping is True


async def test_postgresql_gets_procrastinates_schema_and_loses_it_on_downgrade(
    tmp_path: Path,
) -> None:
    async for db in open_database("postgresql", tmp_path):
        async with db.engine.begin() as conn:
            jobs = await conn.exec_driver_sql("SELECT count(*) FROM procrastinate_jobs")
            assert jobs.scalar() == 0
            await conn.run_sync(_downgrade_to, "0009")
            left = await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relname LIKE 'procrastinate%%'"
            )
            assert left.scalar() == 0


async def test_sqlite_gets_no_job_tables(tmp_path: Path) -> None:
    async for db in open_database("sqlite", tmp_path):
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        assert not [name for name in names if name.startswith("procrastinate")]


def test_a_procrastinate_whose_schema_our_migrations_do_not_know_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_queue, "SCHEMA_VERSION", "03.03.00")
    with pytest.raises(job_queue.JobSchemaError, match=r"at migration 03\.04\.00.*03\.03\.00"):
        job_queue.check_installed_package()
