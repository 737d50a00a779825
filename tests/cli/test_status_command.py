"""``status --json`` after ``sync --once``, through the CLI entry, against the emulators.

``status`` reads what the service wrote and the run log every sync writes, whichever is newer:
a one-off sync must show as the last cycle even without ``run``, and even over an older cycle
the service recorded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_sync_commands import cli, config_file
from tests.e2e.harness import Systems, systems, tenant
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore

#: What ``run`` left behind long ago: a full cycle, successful, the tenant healthy.
OLD = "2020-01-01T00:00:00+00:00"
OLD_SERVICE_VALUES = {
    "last_cycle": {
        "at": OLD,
        "mode": "full",
        "trigger": "interval",
        "status": "completed",
        "seconds": 1.0,
        "counts": {"customer": {"synced": 99}},
        "message": None,
    },
    "last_success_at": OLD,
    "health": {"state": "ok", "reason": None},
}


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


async def status_of(env: Systems, path: str) -> dict[str, Any]:
    result = await cli(env.connector, "status", "--json", "--config", path)
    assert result.exit_code == 0, result.output
    (status,) = json.loads(result.stdout)["tenants"]
    return dict(status)


async def write_old_service_cycle(tmp_path: Path) -> None:
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        await ServiceStore(db).put_many("acme", OLD_SERVICE_VALUES)


async def test_a_sync_once_shows_as_last_cycle_with_its_counts_and_success(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path)
    await env.organisation(OrganisationName="Räkna AB")
    before = datetime.now().astimezone()

    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    status = await status_of(env, path)

    last = status["last_cycle"]
    assert last["mode"] == "incremental" and last["status"] == "completed"
    assert last["counts"]["customer"] == {"synced": 1}
    assert datetime.fromisoformat(last["at"]) >= before.replace(microsecond=0)
    assert status["last_success_at"] is not None
    assert datetime.fromisoformat(status["last_success_at"]) >= before.replace(microsecond=0)
    assert status["state"] == "not running"  # the service is not running; the sync was fine
    text = await cli(env.connector, "status", "--config", path)
    assert f"last success: {status['last_success_at']}" in text.stdout
    assert "  Fortnox: service account\n  webCRM: api token\n" in text.stdout


async def test_a_newer_sync_once_wins_over_an_older_cycle_of_the_service(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path)
    await env.organisation(OrganisationName="Nyare AB")
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    await write_old_service_cycle(tmp_path)

    status = await status_of(env, path)

    last = status["last_cycle"]
    assert last["at"] > OLD and last["mode"] == "incremental"
    assert last["counts"]["customer"] == {"synced": 1}
    assert status["last_success_at"] > OLD
    assert status["state"] == "ok"  # the service's health stands while the newer sync was fine


async def test_a_newer_failed_sync_once_is_not_shown_as_ok(env: Systems, tmp_path: Path) -> None:
    path = config_file(tmp_path, tenant(webcrm={"api_token": "not-the-token"}))
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 1
    await write_old_service_cycle(tmp_path)

    status = await status_of(env, path)

    assert status["state"] == "failing"
    assert status["reason"] and "webCRM" in status["reason"]
    last = status["last_cycle"]
    assert last["at"] > OLD and last["status"] == "stopped"
    assert last["message"] == status["reason"]
    assert status["last_success_at"] == OLD  # the old success is still the last one
