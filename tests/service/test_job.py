"""The one job body: a sync of one tenant by name, with its lease, cycle and schedule recorded."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

from tests.service.live import Live
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.service.job import (
    LEASE_SECONDS,
    JobContext,
    JobResult,
    WorkerSettings,
    sync_tenant_job,
)
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.registry import TenantState
from webcrm_fortnox.store.service import Schedule, ServiceStore
from webcrm_fortnox.store.state import RUNNING


async def test_a_job_syncs_records_and_schedules_the_tenant_and_gives_its_lease_back(
    env: Live, db: StateDatabase
) -> None:
    await env.systems.organisation(OrganisationName="Jobb AB")
    config = env.tenant()
    async with JobContext(db, env.connector(), tenants=[config]) as ctx:
        outcome = await sync_tenant_job(ctx, config.name, "cycle")
        assert (outcome.result, outcome.health, outcome.mode) == (
            JobResult.SYNCED,
            "ok",
            Mode.INCREMENTAL,
        )
        clients = ctx.clients.current(config.name)
        assert clients is not None  # kept for the tenant's next job ...
        again = await sync_tenant_job(ctx, config.name, "webcrm hook")
        assert ctx.clients.current(config.name) is clients  # ... which reuses them
    assert ctx.clients.current(config.name) is None  # closed with the context
    assert [c["Name"] for c in await env.systems.customers()] == ["Jobb AB"]
    cycles = await db.tenant(config.name).cycles()
    assert [(c.trigger, c.status) for c in cycles] == [
        ("webcrm hook", "completed"),
        ("cycle", "completed"),
    ]
    stored = await ServiceStore(db).schedule(config.name)
    assert stored == again.schedule and stored is not None
    assert stored.next_cycle_at is not None and stored.next_full_at is not None
    assert stored.next_cycle_at - cycles[1].finished_at <= timedelta(seconds=3601)  # type: ignore[operator]
    # The lease was given back: another process may claim the tenant at once.
    assert await ServiceStore(db).claim(config.name, "another process", LEASE_SECONDS)


async def test_a_tenant_another_process_syncs_is_busy_and_left_alone(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant()
    assert await ServiceStore(db).claim(config.name, "another process", LEASE_SECONDS)
    async with JobContext(db, env.connector(), tenants=[config]) as ctx:
        outcome = await sync_tenant_job(ctx, config.name, "cycle")
    assert outcome.result is JobResult.BUSY
    assert await db.tenant(config.name).cycles() == []


async def test_a_cycle_another_process_ran_meanwhile_is_not_run_again(
    env: Live, db: StateDatabase
) -> None:
    # The caller read the cycle due at ``read``; another process ran it before this job took
    # the lease and stored the next one: the job leaves the tenant alone.
    config = env.tenant()
    read = datetime(2026, 1, 1, tzinfo=UTC)
    moved = Schedule(next_cycle_at=read + timedelta(seconds=config.sync_interval_seconds))
    await ServiceStore(db).save_schedule(config.name, moved)
    async with JobContext(db, env.connector(), tenants=[config]) as ctx:
        skipped = await sync_tenant_job(ctx, config.name, "cycle", cycle_of=read)
        ran = await sync_tenant_job(ctx, config.name, "cycle", cycle_of=moved.next_cycle_at)
    assert (skipped.result, skipped.reason) == (JobResult.BUSY, "another process ran the cycle")
    assert skipped.schedule == moved
    assert ran.result is JobResult.SYNCED
    assert len(await db.tenant(config.name).cycles()) == 1
    assert await ServiceStore(db).lease_owner(config.name) is None


async def test_a_name_without_a_tenant_and_a_paused_registered_one_are_outcomes(
    env: Live, db: StateDatabase
) -> None:
    connector = env.connector()
    registry = Registry(db, connector.keys)
    await registry.register([env.tenant(name="kept")], update=False)
    await registry.set_state("kept", TenantState.PAUSED, "audit")
    async with JobContext(db, connector) as ctx:
        unknown = await sync_tenant_job(ctx, "nobody", "cycle")
        paused = await sync_tenant_job(ctx, "kept", "cycle")
        await registry.set_state("kept", TenantState.ACTIVE)
        resumed = await sync_tenant_job(ctx, "kept", "cycle")
    assert (unknown.result, unknown.reason) == (JobResult.UNKNOWN, "no tenant named 'nobody'")
    assert (paused.result, paused.reason) == (
        JobResult.INACTIVE,
        "the registered tenant is paused (audit)",
    )
    assert resumed.result is JobResult.SYNCED  # a registered tenant, loaded by name


async def test_a_due_full_reconciliation_makes_the_job_full(env: Live, db: StateDatabase) -> None:
    config = env.tenant()
    settings = WorkerSettings(full_every=0.0)  # every full reconciliation is due at once
    async with JobContext(db, env.connector(), tenants=[config], settings=settings) as ctx:
        first = await sync_tenant_job(ctx, config.name, "cycle")
        second = await sync_tenant_job(ctx, config.name, "cycle")
    assert (first.mode, second.mode) == (Mode.INCREMENTAL, Mode.FULL)


async def test_refused_credentials_pause_the_tenant_until_they_change(
    env: Live, db: StateDatabase
) -> None:
    refused = env.tenant(webcrm={"api_token": "not-the-token"})
    async with JobContext(db, env.connector(), tenants=[refused]) as ctx:
        paused = await sync_tenant_job(ctx, refused.name, "cycle")
        still = await sync_tenant_job(ctx, refused.name, "cycle")
        ctx.add(env.tenant())  # the token fixed in the settings
        resumed = await sync_tenant_job(ctx, refused.name, "cycle")
    assert (paused.result, paused.health) == (JobResult.PAUSED, "reconnect needed")
    assert paused.schedule is not None and paused.schedule.paused_by == "run"
    assert (still.result, still.run) == (JobResult.PAUSED, None)  # nothing ran meanwhile
    assert (resumed.result, resumed.health) == (JobResult.SYNCED, "ok")
    assert resumed.schedule is not None and resumed.schedule.paused is None
    assert len(await db.tenant(refused.name).cycles()) == 2


async def test_a_cycle_left_running_by_a_process_whose_lease_ran_out_is_closed_as_interrupted(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant()
    store = ServiceStore(db)
    # A process took the lease, started a cycle and died: its lease has run out.
    assert await store.claim(config.name, "a killed process", -1.0)
    cut = await db.tenant(config.name).start_cycle("cycle", "incremental")
    async with JobContext(db, env.connector(), tenants=[config]) as ctx:
        outcome = await sync_tenant_job(ctx, config.name, "cycle")
    assert outcome.result is JobResult.SYNCED
    cycles = {c.id: c for c in await db.tenant(config.name).cycles()}
    assert cycles[cut].status == "interrupted"
    assert cycles[cut].finished_at is not None
    assert RUNNING not in {c.status for c in cycles.values()}


async def test_changed_settings_get_new_clients_and_the_old_close_once_unused(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant()
    changed = env.tenant(sync_interval_seconds=1800)
    async with JobContext(db, env.connector(), tenants=[config]) as ctx:
        async with ctx.clients.hold(config) as first:
            async with ctx.clients.hold(config) as same:
                assert same is first  # one tenant's jobs at once share its clients
            async with ctx.clients.hold(changed) as fresh:
                assert fresh is not first
                assert not first.webcrm.http.is_closed  # still in use
        assert first.webcrm.http.is_closed
        assert ctx.clients.current(config.name) is fresh
    assert fresh.webcrm.http.is_closed


async def test_the_clients_kept_between_jobs_are_bounded(env: Live, db: StateDatabase) -> None:
    tenants = [env.tenant(name=f"t{n}") for n in range(3)]
    async with JobContext(db, env.connector(), tenants=tenants, clients=2) as ctx:
        for tenant in tenants:
            assert (await sync_tenant_job(ctx, tenant.name, "cycle")).result is JobResult.SYNCED
        kept = [ctx.clients.current(tenant.name) is not None for tenant in tenants]
    assert kept == [False, True, True]  # the least recently used went first


async def test_the_lease_of_an_ended_process_of_this_machine_is_taken_over_at_once(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant()
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    assert await ended.wait() == 0
    async with JobContext(db, env.connector(), tenants=[config]) as ctx:
        machine, _, _ = ctx.process.rsplit(":", 2)
        store = ServiceStore(db)
        # Killed during its sync: the lease would run for a minute yet.
        assert await store.claim(config.name, f"{machine}:{ended.pid}:a:b", LEASE_SECONDS)
        taken = await sync_tenant_job(ctx, config.name, "once")
        # A process of this machine that still runs (this one) is waited out.
        assert await store.claim(config.name, f"{machine}:{os.getpid()}:c:d", LEASE_SECONDS)
        busy = await sync_tenant_job(ctx, config.name, "once")
    assert (taken.result, busy.result) == (JobResult.SYNCED, JobResult.BUSY)
