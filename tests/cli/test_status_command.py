"""``status --json`` after ``sync --once`` and ``retry``, through the CLI entry, against the
emulators.

Every sync records its cycle (id, trigger, start and end, outcome, counts per entity) and the
tenant's health after it, so ``status`` shows a one-off sync as it shows the service's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_sync_commands import cli, config_file
from tests.e2e.harness import Systems, systems, tenant
from webcrm_fortnox.store import StateDatabase


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


async def status_of(env: Systems, path: str) -> dict[str, Any]:
    result = await cli(env.connector, "status", "--json", "--config", path)
    assert result.exit_code == 0, result.output
    (status,) = json.loads(result.stdout)["tenants"]
    return dict(status)


async def service_cycle(tmp_path: Path) -> int:
    """A scheduled cycle of ``run`` that completed."""
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        state = db.tenant("acme")
        cycle = await state.start_cycle("cycle", "full")
        counts = {"customer": {"synced": 99}}
        await state.finish_cycle(cycle, "completed", counts, None, {"state": "ok", "reason": None})
        return cycle


async def test_a_sync_once_shows_as_last_cycle_with_its_id_counts_and_success(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path)
    await env.organisation(OrganisationName="Räkna AB")
    before = datetime.now().astimezone()

    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    status = await status_of(env, path)

    last = status["last_cycle"]
    assert (last["id"], last["trigger"], last["mode"], last["status"]) == (
        1,
        "once",
        "incremental",
        "completed",
    )
    assert last["counts"]["customer"] == {"synced": 1}
    assert datetime.fromisoformat(last["at"]) >= before.replace(microsecond=0)
    assert status["last_success_at"] == last["at"]
    assert status["cycles"] == [last]
    assert status["state"] == "ok"
    text = await cli(env.connector, "status", "--config", path)
    assert f"last cycle: #1 {last['at']} (incremental, once, completed)" in text.stdout
    assert "last cycle's records: article: nothing to do; customer: 1 synced;" in text.stdout
    assert f"last success: {status['last_success_at']}" in text.stdout
    assert "  Fortnox: service account\n  webCRM: api token\n" in text.stdout


async def test_cycles_of_the_service_and_of_commands_are_listed_by_id_newest_first(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path)
    await env.organisation(OrganisationName="Acme AB")
    bad = await env.organisation(OrganisationName="Berg AB", OrganisationCustom1="Gata <1>")
    scheduled = await service_cycle(tmp_path)
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 3
    listed = await cli(env.connector, "errors", "--config", path)
    (error_id,) = re.findall(r"│\s*(\d+)\s*│\s*customer webCRM", listed.stdout)
    await env.edit_organisation(bad, OrganisationCustom1="Gata 1")
    assert (await cli(env.connector, "retry", error_id, "--config", path)).exit_code == 0

    status = await status_of(env, path)

    shown = [(c["id"], c["trigger"], c["mode"], c["status"]) for c in status["cycles"]]
    assert shown == [
        (scheduled + 2, "retry", "retry", "completed"),
        (scheduled + 1, "once", "incremental", "completed"),
        (scheduled, "cycle", "full", "completed"),
    ]
    once, scheduled_counts = status["cycles"][1]["counts"], status["cycles"][2]["counts"]
    assert once["customer"] == {"synced": 1, "failed": 1}
    assert scheduled_counts == {"customer": {"synced": 99}}
    assert status["cycles"][0]["counts"]["customer"] == {"synced": 1}
    assert status["last_cycle"] == status["cycles"][0]


async def test_a_sync_once_refused_after_a_good_cycle_shows_the_tenant_unwell(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path, tenant(webcrm={"api_token": "not-the-token"}))
    await service_cycle(tmp_path)
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 1

    status = await status_of(env, path)

    assert status["state"] == "reconnect needed"  # webCRM refused the token
    assert status["reason"] and "webCRM" in status["reason"]
    last, good = status["cycles"]
    assert (last["trigger"], last["status"]) == ("once", "stopped")
    assert last["message"] == status["reason"] and status["last_cycle"] == last
    assert status["last_success_at"] == good["at"]  # the good cycle is still the last success


async def test_an_organisation_excluded_then_eligible_and_synced_is_no_longer_excluded(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path)
    lead = await env.organisation(OrganisationName="Lead AB", OrganisationType="Prospect")
    await env.organisation(OrganisationName="Kund AB")
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    excluded = (await status_of(env, path))["entities"]["customer"]
    env.clock.advance(60)
    await env.edit_organisation(lead, OrganisationType="Customer")
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0

    customers = (await status_of(env, path))["entities"]["customer"]

    assert (excluded["in_sync"], excluded["excluded"]) == (1, 1)
    assert (customers["in_sync"], customers["excluded"]) == (2, 0)
