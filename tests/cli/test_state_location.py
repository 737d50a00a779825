"""Where the state store is: a relative SQLite path is read from the configuration file's folder,
and the commands that report on the store refuse one that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.cli.test_sync_commands import cli
from tests.e2e.harness import Systems, state_url, systems, tenant, write_tenant_config
from webcrm_fortnox.store.database import create_engine


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


async def test_a_relative_store_is_beside_the_configuration_whatever_the_current_folder(
    env: Systems, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc, elsewhere = tmp_path / "etc", tmp_path / "cron"
    etc.mkdir()
    elsewhere.mkdir()
    path = str(write_tenant_config(etc / "webcrm-fortnox.toml", "sqlite:///state.db", tenant()))
    await env.organisation(OrganisationName="Acme AB")
    monkeypatch.chdir(elsewhere)

    synced = await cli(env.connector, "sync", "--once", "--config", path)
    assert synced.exit_code == 0, synced.output
    assert (etc / "state.db").exists() and not (elsewhere / "state.db").exists()
    status = await cli(env.connector, "status", "--config", path)
    assert status.exit_code == 0, status.output
    assert "never run" not in status.stdout and "completed" in status.stdout


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["errors"], ["conflicts"]])
async def test_a_report_on_a_store_that_does_not_exist_says_so(
    env: Systems, tmp_path: Path, command: list[str]
) -> None:
    path = str(write_tenant_config(tmp_path / "sync.toml", "sqlite:///state.db", tenant()))
    result = await cli(env.connector, *command, "--config", path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}: state.url: no state store at {tmp_path / 'state.db'}: nothing has synced "
        "into it yet (`sync --once` or `run` creates it; a relative path is read from the "
        "configuration file's folder)"
    ]
    assert result.stdout == ""
    assert not (tmp_path / "state.db").exists()  # and it was not created either


async def test_a_report_on_a_database_without_the_state_tables_says_so(
    env: Systems, tmp_path: Path
) -> None:
    with state_url("postgresql", tmp_path) as url:
        path = str(write_tenant_config(tmp_path / "sync.toml", url, tenant()))
        result = await cli(env.connector, "status", "--config", path)
        assert result.exit_code == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"{path}: state.url: no state store in postgresql+psycopg://")
        assert line.endswith("it holds no sync state yet (`sync --once` or `run` creates it)")

        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        finally:
            await engine.dispose()
        assert tables == []  # nothing was created

        synced = await cli(env.connector, "sync", "--once", "--config", path)
        assert synced.exit_code == 0, synced.output
        assert (await cli(env.connector, "status", "--config", path)).exit_code == 0
