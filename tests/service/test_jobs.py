"""The job queue on real PostgreSQL: deferring, the dispatcher, the stalled-job sweep.

Each test has a schema of its own (Procrastinate's tables in it, installed by migration 0011);
the workers themselves run as real processes in ``tests/e2e/test_workers.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import procrastinate
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.e2e.harness import tenant
from tests.store.backends import postgres_url
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.job import JobContext
from webcrm_fortnox.service.jobs import (
    REQUESTS,
    SYNC_TASK,
    JobQueueError,
    JobSettings,
    Tenants,
    WorkerRuntime,
    advisory_key,
    conninfo,
    create_app,
    defer_syncs,
)
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.database import create_engine
from webcrm_fortnox.store.feed import FeedStore
from webcrm_fortnox.store.job_queue import tenant_lock
from webcrm_fortnox.store.queries import QueueState, ReadModel
from webcrm_fortnox.store.requests import AdminRequests, RequestKind, RequestState
from webcrm_fortnox.store.service import Schedule, ServiceStore


@dataclass
class Queue:
    """A migrated state store in a schema of its own, its Procrastinate app (open), and a
    worker runtime over a few tenants."""

    db: StateDatabase
    app: procrastinate.App
    runtime: WorkerRuntime
    tenants: list[TenantConfig]

    async def waiting(self) -> dict[str, int]:
        """Sync jobs waiting, by tenant."""
        async with self.db.engine.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT args->>'tenant', count(*) FROM procrastinate_jobs"
                f" WHERE status = 'todo' AND task_name = '{SYNC_TASK}' GROUP BY 1"
            )
            return {row[0]: int(row[1]) for row in rows}


@pytest.fixture
async def queue() -> AsyncIterator[Queue]:
    base = postgres_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    url = f"{base}?options=-csearch_path%3D{schema}"
    db = await StateDatabase.open(base, schema=schema)
    tenants = [tenant(name=f"t{n}", sync_interval_seconds=60) for n in range(4)]
    app = create_app(url)
    try:
        async with app.open_async(), JobContext(db, Connector(), tenants=tenants) as jobs:
            runtime = WorkerRuntime(
                app, db, jobs, Tenants(tenants, Registry(db, None)), JobSettings()
            )
            yield Queue(db, app, runtime, tenants)
    finally:
        await db.close()
        engine = create_engine(base)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


def test_workers_refuse_a_sqlite_store_by_name() -> None:
    with pytest.raises(JobQueueError, match=r"workers need the state store on PostgreSQL"):
        conninfo("sqlite:///state.db")


async def test_triggers_collapse_into_one_waiting_job_per_tenant(queue: Queue) -> None:
    for _ in range(3):
        async with queue.db.begin() as conn:
            deferred = await defer_syncs(queue.app, conn, ["t0", "t1", "t0"], "webcrm poll")
    assert deferred == 0  # the last round found both waiting already
    assert await queue.waiting() == {"t0": 1, "t1": 1}


async def test_a_changes_sync_goes_before_cycles_waiting_longer(queue: Queue) -> None:
    async with queue.db.begin() as conn:
        await defer_syncs(queue.app, conn, ["t0", "t1"], "cycle")
        await defer_syncs(queue.app, conn, ["t2"], "fortnox customers")
    manager = queue.app.job_manager
    worker = await manager.register_worker()
    fetched = [await manager.fetch_job(queues=["sync"], worker_id=worker) for _ in range(3)]
    assert [job.task_kwargs["tenant"] for job in fetched if job] == ["t2", "t0", "t1"]


async def test_a_deferral_rolled_back_with_its_transaction_leaves_no_job(queue: Queue) -> None:
    with pytest.raises(RuntimeError):
        async with queue.db.begin() as conn:
            await defer_syncs(queue.app, conn, ["t0"], "fortnox customers")
            raise RuntimeError("the announcement's transaction fails")
    assert await queue.waiting() == {}


async def test_an_announcement_and_its_job_are_committed_together(queue: Queue) -> None:
    feed = FeedStore(queue.db)

    async def defer_then_fail(conn: AsyncConnection) -> None:
        await defer_syncs(queue.app, conn, ["t0"], "fortnox customers")
        raise RuntimeError("the connection broke before the commit")

    with pytest.raises(RuntimeError):
        await feed.announce("t0", "customers", "17", within=defer_then_fail)
    assert (await feed.snapshot("t0")).announced == {}
    assert await queue.waiting() == {}

    async def defer(conn: AsyncConnection) -> None:
        await defer_syncs(queue.app, conn, ["t0"], "fortnox customers")

    await feed.announce("t0", "customers", "17", within=defer)
    assert (await feed.snapshot("t0")).announced == {"customers": frozenset({"17"})}
    assert await queue.waiting() == {"t0": 1}


async def test_the_dispatcher_spreads_first_cycles_and_defers_due_tenants_once(
    queue: Queue,
) -> None:
    store = ServiceStore(queue.db)
    start = queue.db.clock()
    await queue.runtime.dispatch()
    firsts = {t.name: await store.schedule(t.name) for t in queue.tenants}
    due = [s.next_cycle_at for s in firsts.values() if s is not None and s.next_cycle_at]
    assert len(due) == 4 and len(set(due)) == 4  # each its own time within the interval
    assert all(start <= at <= start + timedelta(seconds=60) for at in due)

    past = start - timedelta(seconds=1)
    for name in ("t1", "t2"):
        await store.save_schedule(name, Schedule(next_cycle_at=past))
    await store.save_schedule("t3", Schedule(next_cycle_at=past, retry_at=start + timedelta(1)))
    # Two dispatchers at once (two workers' periodic jobs): each due tenant once.
    picked = await asyncio.gather(queue.runtime.dispatch(), queue.runtime.dispatch())
    assert sum(picked) == 2
    assert await queue.waiting() == {"t1": 1, "t2": 1}  # t3 backs off
    moved = await store.schedule("t1")
    assert moved is not None and moved.next_cycle_at is not None
    assert moved.next_cycle_at >= start + timedelta(seconds=59)
    assert await queue.runtime.dispatch() == 0


async def _stalled_sync(queue: Queue, tenant_name: str) -> int:
    """A sync job of ``tenant_name`` fetched by a worker that then went silent; its id."""
    manager = queue.app.job_manager
    async with queue.db.begin() as conn:
        await defer_syncs(queue.app, conn, [tenant_name], "cycle")
    worker = await manager.register_worker()
    job = await manager.fetch_job(queues=None, worker_id=worker)
    assert job is not None and job.id is not None
    async with queue.db.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
                " WHERE id = :id"
            ),
            {"id": worker},
        )
    return job.id


async def _statuses(queue: Queue) -> dict[int, str]:
    async with queue.db.engine.connect() as conn:
        rows = await conn.exec_driver_sql("SELECT id, status FROM procrastinate_jobs")
        return {int(row[0]): str(row[1]) for row in rows}


async def test_the_sweep_gives_a_silent_workers_job_back(queue: Queue) -> None:
    job = await _stalled_sync(queue, "t0")
    assert await queue.runtime.sweep() == 1
    assert await _statuses(queue) == {job: "todo"}
    assert await queue.runtime.sweep() == 0


async def test_the_sweep_drops_a_stalled_job_a_newer_waiting_one_covers(queue: Queue) -> None:
    stalled = await _stalled_sync(queue, "t0")
    async with queue.db.begin() as conn:
        assert await defer_syncs(queue.app, conn, ["t0"], "fortnox customers") == 1
    assert await queue.runtime.sweep() == 1
    statuses = await _statuses(queue)
    assert stalled not in statuses and list(statuses.values()) == ["todo"]


async def test_a_sync_whose_tenant_is_locked_elsewhere_does_nothing(queue: Queue) -> None:
    # A copy of the job still runs on a worker pruned as stalled: it holds the tenant's lock.
    async with queue.db.engine.connect() as other:
        await other.execute(sa.select(sa.func.pg_advisory_lock(advisory_key("t0"))))
        assert await queue.runtime.sync("t0", "cycle") == "syncing elsewhere"
    assert await queue.db.tenant("t0").cycles() == []
    assert queue.runtime.running == {}


def test_a_tenants_lock_names_it() -> None:
    assert tenant_lock("acme") == "tenant:acme"


async def test_the_fleet_shows_each_tenants_waiting_running_and_scheduled_sync_jobs(
    queue: Queue,
) -> None:
    manager = queue.app.job_manager
    worker = await manager.register_worker()
    async with queue.db.begin() as conn:
        await defer_syncs(queue.app, conn, ["t0", "t2"], "cycle")
    running = await manager.fetch_job(queues=["sync"], worker_id=worker)
    assert running is not None and running.task_kwargs["tenant"] == "t0"
    backing_off = await manager.fetch_job(queues=["sync"], worker_id=worker)
    assert backing_off is not None and backing_off.task_kwargs["tenant"] == "t2"
    retry_at = queue.db.clock().replace(microsecond=0) + timedelta(minutes=5)
    await manager.retry_job(backing_off, retry_at=retry_at)
    async with queue.db.begin() as conn:  # t0 changes while it syncs: one more waits
        await defer_syncs(queue.app, conn, ["t0", "t1"], "fortnox customers")
    model = ReadModel(queue.db)

    page = await model.fleet(configured=[t.name for t in queue.tenants])
    [t3] = await model.tenants(["t3"])

    assert {row.name: row.queue for row in page.rows} == {
        "t0": QueueState(waiting=1, running=1, next_at=None),
        "t1": QueueState(waiting=1, running=0, next_at=None),
        "t2": QueueState(waiting=1, running=0, next_at=retry_at),
        "t3": QueueState(waiting=0, running=0, next_at=None),
    }
    assert t3.queue == QueueState(waiting=0, running=0, next_at=None)


async def test_a_workers_job_carries_out_what_an_operator_asked_for(queue: Queue) -> None:
    # The admin page records requests; on workers, the dispatcher defers a job for them and
    # the job carries them out (here one that fails, as a proposal nobody made cannot be
    # accepted: its outcome says so, and it waits no more).
    requests = AdminRequests(queue.db)
    asked = await requests.record("t1", RequestKind.ACCEPT, {"proposal_id": 999}, "ops")
    await queue.runtime.dispatch()
    assert await queue.waiting() == {"t1": 1}
    await queue.runtime.sync("t1", REQUESTS)
    (done,) = (await ReadModel(queue.db).requests(tenant="t1")).rows
    assert (done.id, done.state) == (asked.id, RequestState.FAILED)
    assert done.outcome is not None and "999" in done.outcome
    assert not await requests.waiting("t1")
