"""``run`` under failures it did not expect: logged at once, retried, never silently dead; and a
clean stop that logs nothing at ERROR."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
import sqlalchemy as sa

from tests.service.live import Live, eventually, quick, running
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.job import WorkerSettings
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import Schedule, ServiceStore


async def test_an_unexpected_failure_is_logged_when_it_happens_and_the_tenant_retried(
    env: Live, db: StateDatabase, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    save = ServiceStore.save_schedule
    refused: list[str] = []

    async def locked_once(self: ServiceStore, tenant: str, schedule: Schedule) -> None:
        if not refused:
            refused.append(tenant)
            locked = sqlite3.OperationalError("database is locked")
            raise sa.exc.OperationalError("INSERT INTO tenant_schedules", {}, locked)
        await save(self, tenant, schedule)

    monkeypatch.setattr(ServiceStore, "save_schedule", locked_once)
    await env.systems.organisation(OrganisationName="Efter felet AB")
    config = env.tenant(webcrm_poll_seconds=3600)
    # A backoff long enough to see the failing health before the retry clears it.
    settings = WorkerSettings(debounce=0.05, first_backoff=1.0, pause_check=0.1)
    service = SyncService([config], db, env.connector(), quick(feed=False, worker=settings))
    worker = service.workers[config.name]
    with caplog.at_level(logging.INFO):
        async with running(service):

            async def logged() -> bool:
                return any(
                    r.levelno == logging.ERROR and "database is locked" in (r.exc_text or "")
                    for r in caplog.records
                )

            await eventually(logged, "the failure logged while the service runs")

            async def failing() -> bool:
                health = await ServiceStore(db).get(config.name, "health") or {}
                return "database is locked" in (health.get("reason") or "")

            await eventually(failing, "the failure shown in the health")
            await eventually(
                lambda: _true(worker.syncs >= 1 and worker.health == "ok"), "the retry's sync"
            )
    assert refused == [config.name]
    assert any("backing off" in r.getMessage() for r in caplog.records)
    assert [c["Name"] for c in await env.systems.customers()] == ["Efter felet AB"]


async def test_a_clean_stop_logs_nothing_at_error(
    env: Live, db: StateDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(30):
        await env.systems.organisation(OrganisationName=f"Kund {n:02d} AB")
    config = env.tenant(webcrm_poll_seconds=3600)
    service = SyncService([config], db, env.connector(), quick(feed=False))
    state = db.tenant(config.name)
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(service.run())

        async def some_linked() -> bool:
            return len(await state.links("customer")) >= 3

        await eventually(some_linked, "the import under way")
        service.stop()
        assert await asyncio.wait_for(task, 20) == 0
    assert len(await state.links("customer")) < 30  # it did stop mid-run
    assert any(r.getMessage() == "run aborted" for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def _true(value: bool) -> bool:
    return value
