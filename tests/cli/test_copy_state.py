"""``copy-state``: moving from SQLite to PostgreSQL through the CLI, losing nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_sync_commands import cli
from tests.cli.test_tenants_command import ADD, keyed, state_only
from tests.e2e.harness import Systems, state_url, writes_in


async def test_a_copied_store_carries_on_where_sqlite_left_off(
    env: Systems, tmp_path: Path
) -> None:
    connector = keyed(env, tmp_path)
    sqlite = state_only(tmp_path)
    await cli(connector, *ADD, "--config", sqlite)
    await env.organisation(OrganisationName="Flyttad AB", OrganisationType="Customer")
    assert (await cli(connector, "sync", "--once", "--config", sqlite)).exit_code == 0

    with state_url("postgresql", tmp_path) as url:
        postgres = tmp_path / "postgres.toml"
        postgres.write_text(f'[state]\nurl = "{url}"\n')
        copied = await cli(connector, "copy-state", url, "--config", sqlite)
        listed = await cli(connector, "tenants", "list", "--json", "--config", str(postgres))
        await env.fortnox_api.delete("/_emulator/stats")
        await env.webcrm_api.delete("/_emulator/stats")
        again = await cli(connector, "sync", "--once", "--config", str(postgres))
        twice = await cli(connector, "copy-state", url, "--config", sqlite)

    assert copied.exit_code == 0, copied.output
    assert "copied " in copied.stdout and "set [state] url to it" in copied.stdout
    assert [t["name"] for t in json.loads(listed.stdout)] == ["acme"]  # the registry moved ...
    assert again.exit_code == 0, again.output  # ... its secrets open with the same key ...
    assert await writes_in(env.fortnox_api) == 0  # ... and the links: nothing made twice
    assert await writes_in(env.webcrm_api) == 0
    assert [c["Name"] for c in await env.customers()] == ["Flyttad AB"]
    assert twice.exit_code == 1
    assert "is not empty (table " in twice.stderr and "nothing was written" in twice.stderr


async def test_a_missing_sqlite_store_is_not_created_to_be_copied(
    env: Systems, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.db"
    result = await cli(
        env.connector, "copy-state", f"sqlite:///{tmp_path / 'copy.db'}", "--from",
        f"sqlite:///{missing}",
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"there is no state store at sqlite:///{missing} to copy" in result.stderr
    assert not missing.exists()
