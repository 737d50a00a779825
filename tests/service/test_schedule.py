"""Each tenant's schedule in the store: a restarted ``run`` carries on from it, on SQLite and
PostgreSQL; tenants without one start spread over their interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.service.live import Live, eventually, quick, running
from tests.store.backends import BACKENDS, open_database, second_connection
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.worker import TenantWorker
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import Schedule, ServiceStore


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for db in open_database(request.param, tmp_path):
        yield db


async def _true(value: bool) -> bool:
    return value


async def started(worker: TenantWorker) -> None:
    """Wait until ``worker`` has read its schedule and stored what it decided from it; a sync
    it found due would have started by the time this returns."""
    await eventually(lambda: _true(worker._saved is not None), "the schedule read and stored")
    await asyncio.sleep(0.3)


async def stored(db: StateDatabase, tenant: str) -> Schedule:
    schedule = await ServiceStore(db).schedule(tenant)
    assert schedule is not None
    return schedule


async def test_a_restarted_run_continues_the_schedule_instead_of_syncing_at_once(
    env: Live, store: StateDatabase
) -> None:
    config = env.tenant(webcrm_poll_seconds=3600, sync_interval_seconds=3600)
    first = SyncService([config], store, env.connector(), quick(feed=False))
    async with running(first):
        worker = first.workers[config.name]
        await eventually(lambda: _true(worker.syncs >= 1 and worker.idle), "the first cycle")
        await started(worker)
    before = await stored(store, config.name)
    assert before.next_cycle_at is not None
    assert before.next_cycle_at > datetime.now(UTC) + timedelta(seconds=3500)

    again = SyncService([config], store, env.connector(), quick(feed=False))
    async with running(again):
        await started(again.workers[config.name])
        assert again.workers[config.name].syncs == 0

    assert [c.trigger for c in await store.tenant(config.name).cycles()] == ["cycle"]
    after = await stored(store, config.name)
    assert abs((after.next_cycle_at - before.next_cycle_at).total_seconds()) <= 1  # type: ignore[operator]


async def test_a_paused_tenant_stays_paused_across_a_restart(
    env: Live, store: StateDatabase
) -> None:
    config = env.tenant(webcrm={"api_token": "not-the-token"}, webcrm_poll_seconds=3600)
    first = SyncService([config], store, env.connector(), quick(feed=False))
    async with running(first):
        worker = first.workers[config.name]
        await eventually(lambda: _true(worker.health == "reconnect needed"), "the pause")
        await eventually(
            lambda: _true(worker._saved is not None and worker._saved.paused is not None),
            "the pause stored",
        )
    paused = await stored(store, config.name)
    assert (paused.paused, paused.paused_by) == ("reconnect needed", "run")
    assert paused.paused_reason and "webCRM" in paused.paused_reason

    again = SyncService([config], store, env.connector(), quick(feed=False))
    async with running(again):
        worker = again.workers[config.name]
        await started(worker)
        assert (worker.health, worker.syncs) == ("reconnect needed", 0)
    assert len(await store.tenant(config.name).cycles()) == 1


async def test_tenants_without_a_schedule_start_spread_over_their_interval(
    env: Live, store: StateDatabase
) -> None:
    tenants = [
        env.tenant(name=f"t{n}", webcrm_poll_seconds=3600, sync_interval_seconds=3600)
        for n in range(4)
    ]
    service = SyncService(tenants, store, env.connector(), quick(feed=False))
    async with running(service):
        for worker in service.workers.values():
            await started(worker)
        await eventually(lambda: _true(service.workers["t0"].idle), "the first tenant's cycle")
        synced = {name: worker.syncs for name, worker in service.workers.items()}

    due = {t.name: (await stored(store, t.name)).next_cycle_at for t in tenants}
    assert synced == {"t0": 1, "t1": 0, "t2": 0, "t3": 0}
    start = due["t0"] - timedelta(seconds=3600)  # type: ignore[operator]
    offsets = [round((due[f"t{n}"] - start).total_seconds() / 60) for n in (1, 2, 3)]  # type: ignore[operator]
    assert offsets == [15, 30, 45]


async def test_two_processes_never_sync_one_tenant_at_once(env: Live, store: StateDatabase) -> None:
    for n in range(20):
        await env.systems.organisation(OrganisationName=f"Kund {n:02d} AB")
    config = env.tenant(webcrm_poll_seconds=3600)
    other = await second_connection(store)
    try:
        services = [
            SyncService([config], db, env.connector(), quick(feed=False)) for db in (store, other)
        ]
        async with running(services[0]), running(services[1]):
            workers = [service.workers[config.name] for service in services]
            for worker in workers:
                await started(worker)
            await eventually(lambda: _true(all(w.idle for w in workers)), "both idle")
            await eventually(lambda: _true(sum(w.syncs for w in workers) == 1), "one cycle")
    finally:
        await other.close()

    assert [c.status for c in await store.tenant(config.name).cycles()] == ["completed"]
    names = sorted(c["Name"] for c in await env.systems.customers())
    assert names == [f"Kund {n:02d} AB" for n in range(20)]
