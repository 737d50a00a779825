"""Tenants' syncs as Procrastinate jobs on the state store's PostgreSQL: ``webcrm-fortnox worker``.

The same product as ``run``, for thousands of tenants on as many machines as it takes: every
sync is a job in Procrastinate's tables (installed by the state store's migrations, see
:mod:`webcrm_fortnox.store.job_queue`), and any number of ``worker`` processes run them, each
job one call of the job body (:func:`webcrm_fortnox.service.job.sync_tenant_job`).

- **One tenant, one sync at a time.** Every sync job of a tenant carries the tenant's
  Procrastinate ``lock`` (no two of them are *doing* at once) and ``queueing_lock`` (at most one
  waits: triggers collapse into it, today's "one running, one more queued"). A worker whose
  heartbeat lapsed is pruned and its running job then looks stalled although it may still run,
  so each sync also holds a per-tenant PostgreSQL advisory lock on a connection of its own; a
  second copy that finds it taken does nothing.
- **The dispatcher** (:meth:`WorkerRuntime.dispatch`, one periodic job every
  :data:`DISPATCH_CRON` seconds, run by whichever worker fetches it) picks the tenants whose
  cycle is due from ``tenant_schedules`` (``FOR UPDATE SKIP LOCKED``), moves their due time one
  interval on and defers their jobs, all in one transaction. A tenant without a schedule gets a
  first due time spread over its interval by its name, so tenants added together do not start
  together. It also defers a job for each tenant with admin requests waiting (the page's
  actions), which the job carries out before its sync, and carries out the store-only requests
  of paused tenants. Jobs are never deferred into the future: a waiting job holds its tenant's
  queueing lock, and Procrastinate would hold the tenant's ``lock`` for it too.
- **The stalled-job sweep** (:meth:`WorkerRuntime.sweep`, periodic too) gives the jobs of
  workers whose heartbeat stopped (killed, or cut off) back to the queue. When the tenant has a
  newer job waiting, giving the stalled one back breaks the queueing lock; the waiting job
  covers it, so the stalled one is deleted instead.
- **Stopping** (SIGTERM, Ctrl-C): no job is fetched any more, and running syncs stop after the
  record in hand (Procrastinate's graceful shutdown, with the job body's ``stop``); a sync
  stopped so defers its tenant again, so another worker finishes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import procrastinate
import sqlalchemy as sa
from procrastinate import exceptions as job_errors
from procrastinate.job_context import JobContext as TaskContext
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.service.connections import Connector
from webcrm_fortnox.service.health import Served, health_app
from webcrm_fortnox.service.http_server import serving
from webcrm_fortnox.service.job import (
    CYCLE,
    JobContext,
    JobOutcome,
    JobResult,
    WorkerSettings,
    sync_tenant_job,
)
from webcrm_fortnox.service.metrics import ServiceMetrics
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.service.requests import carry_out_for_paused, carry_out_in_job
from webcrm_fortnox.service.roster import Roster
from webcrm_fortnox.service.runner import TenantPlace
from webcrm_fortnox.service.tenants import open_state
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.job_queue import tenant_lock
from webcrm_fortnox.store.requests import AdminRequests, RequestKind

if TYPE_CHECKING:
    from webcrm_fortnox.service.commands import Command

log = logging.getLogger(__name__)

#: Procrastinate's names of the product's tasks, and the queues they wait in.
SYNC_TASK = "webcrm_fortnox.sync"
DISPATCH_TASK = "webcrm_fortnox.dispatch"
SWEEP_TASK = "webcrm_fortnox.sweep"
SYNC_QUEUE = "sync"
CONTROL_QUEUE = "control"
#: Every few seconds (Procrastinate's cron, seconds in the sixth field).
DISPATCH_CRON = "* * * * * */2"
SWEEP_CRON = "* * * * * */5"
#: The key of :class:`procrastinate.job_context.JobContext`'s extra context holding the runtime.
RUNTIME = "webcrm_fortnox"
#: Seconds a waiting worker looks for new jobs besides being notified: a tenant's next job
#: starts at most this long after its previous one frees the tenant's lock.
FETCH_POLL = 0.5
#: The dispatcher and the sweep go before waiting syncs when a worker has a free slot, and a
#: change's sync before a scheduled cycle.
CONTROL_PRIORITY = 10
CHANGE_PRIORITY = 5
#: The trigger of a job deferred for a tenant's admin requests alone.
REQUESTS = "admin requests"
#: How the leases that workers take on tenants begin (see :meth:`WorkerRuntime._sync`).
LEASE_PREFIX = "worker:"


def advisory_key(tenant: str) -> int:
    """The PostgreSQL advisory-lock key held while a tenant syncs (a signed 64-bit number)."""
    digest = hashlib.blake2b(f"webcrm-fortnox sync {tenant}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def first_due_fraction(tenant: str) -> float:
    """Where in its interval a tenant's first cycle falls, in [0, 1), fixed by its name."""
    digest = hashlib.blake2b(tenant.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def conninfo(url: str) -> str:
    """The libpq address Procrastinate connects to, from the state store's URL (its driver
    name dropped; query options such as ``options=-csearch_path=…`` kept)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise JobQueueError(
            f"workers need the state store on PostgreSQL, not {parsed.get_backend_name()!r}: "
            "set [state] url = 'postgresql+psycopg://USER@HOST/DB' (see the README's "
            "'Run at scale')"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class JobQueueError(Exception):
    """The job queue cannot be used as configured; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class JobSettings:
    """Timing of the workers.

    Attributes:
        heartbeat: seconds between a worker's heartbeats.
        stalled_after: a worker silent for this long counts as gone: its jobs are given back.
        dispatch_batch: most tenants one dispatch defers (the rest wait for the next).
        stop_grace: seconds a stopping worker waits for its syncs to reach the end of their
            record before cancelling them.
    """

    heartbeat: float = 5.0
    stalled_after: float = 20.0
    dispatch_batch: int = 1000
    stop_grace: float = 60.0


def application_name(role: str) -> str:
    """How this process's job-queue connections name themselves to PostgreSQL
    (``pg_stat_activity``): ``webcrm-fortnox worker 4242``."""
    return f"webcrm-fortnox {role} {os.getpid()}"


def create_app(url: str, role: str = "client") -> procrastinate.App:
    """The Procrastinate app of the product's tasks over the state store at ``url``, its
    connections named after ``role`` (see :func:`application_name`)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(url), kwargs={"application_name": application_name(role)}
    )
    app = procrastinate.App(connector=connector)
    app.task(name=SYNC_TASK, queue=SYNC_QUEUE, pass_context=True)(_sync_task)
    app.periodic(cron=DISPATCH_CRON, queueing_lock=DISPATCH_TASK, priority=CONTROL_PRIORITY)(
        app.task(name=DISPATCH_TASK, queue=CONTROL_QUEUE, pass_context=True)(_dispatch_task)
    )
    app.periodic(cron=SWEEP_CRON, queueing_lock=SWEEP_TASK, priority=CONTROL_PRIORITY)(
        app.task(name=SWEEP_TASK, queue=CONTROL_QUEUE, pass_context=True)(_sweep_task)
    )
    return app


def _runtime(context: TaskContext) -> WorkerRuntime:
    runtime = context.additional_context[RUNTIME]
    assert isinstance(runtime, WorkerRuntime)
    return runtime


async def _sync_task(context: TaskContext, tenant: str, trigger: str) -> str:
    return await _runtime(context).sync(tenant, trigger)


async def _dispatch_task(context: TaskContext, timestamp: int) -> int:
    return await _runtime(context).dispatch()


async def _sweep_task(context: TaskContext, timestamp: int) -> int:
    return await _runtime(context).sweep()


async def defer_syncs(
    app: procrastinate.App, conn: AsyncConnection, tenants: Iterable[str], trigger: str
) -> int:
    """Defer a sync of each tenant in ``conn``'s transaction (committed with it); a tenant
    that has one waiting already keeps that one. The number deferred.

    A change's sync goes before waiting cycles (:data:`CHANGE_PRIORITY`): under load, an edit
    still crosses within seconds while the cycles, the safety net, wait their turn.
    """
    raw = await conn.get_raw_connection()
    priority = 0 if trigger == CYCLE else CHANGE_PRIORITY
    task = app.tasks[SYNC_TASK]
    deferred = 0
    for tenant in tenants:
        lock = tenant_lock(tenant)
        try:
            # A savepoint each: a tenant whose job already waits must not undo the others.
            async with conn.begin_nested():
                await task.configure(
                    lock=lock,
                    queueing_lock=lock,
                    priority=priority,
                    connection=raw.driver_connection,
                ).defer_async(tenant=tenant, trigger=trigger)
        except job_errors.AlreadyEnqueued:
            continue
        deferred += 1
    return deferred


class Tenants:
    """The tenants the workers run: the configuration file's and the registry's active ones,
    kept in step with the registry as it changes (see :class:`~.roster.Roster`)."""

    def __init__(self, fixed: Iterable[TenantConfig], registry: Registry) -> None:
        self.fixed = {tenant.name: tenant for tenant in fixed}
        self.roster = Roster(registry, fixed=self.fixed)
        self.registered: dict[str, TenantConfig] = {}

    async def current(self) -> Mapping[str, TenantConfig]:
        """Every tenant by name, as the registry says now."""
        changes = await self.roster.changes()
        for name in changes.stop:
            self.registered.pop(name, None)
        for tenant in changes.start:
            self.registered[tenant.name] = tenant
        return {**self.registered, **self.fixed}


class WorkerRuntime:
    """What the jobs of one ``worker`` process share: the store, the job body's context, the
    tenants, the metrics and the stop signal.

    Args:
        app: the Procrastinate app (open).
        db: the state database.
        jobs: the job body's per-process context.
        tenants: the tenants the dispatcher schedules.
        settings: timing.
    """

    def __init__(
        self,
        app: procrastinate.App,
        db: StateDatabase,
        jobs: JobContext,
        tenants: Tenants,
        settings: JobSettings,
    ) -> None:
        self.app = app
        self.db = db
        self.jobs = jobs
        # Every lease this process takes names it as a worker's.
        jobs.process = LEASE_PREFIX + jobs.process
        self.tenants = tenants
        self.settings = settings
        self.metrics: ServiceMetrics = jobs.metrics
        self.stopping = asyncio.Event()
        self.running: dict[str, str] = {}
        self.synced = 0

    async def sync(self, tenant: str, trigger: str) -> str:
        """One sync job: the tenant's advisory lock, then the job body; how it ended."""
        async with self.db.engine.connect() as guard:
            key = advisory_key(tenant)
            taken = await guard.scalar(sa.select(sa.func.pg_try_advisory_lock(key)))
            await guard.commit()  # the lock is the session's; no transaction stays open
            if not taken:
                # A copy of this job still runs (its worker was pruned as stalled meanwhile).
                log.warning("tenant syncing elsewhere; job skipped", extra={"tenant": tenant})
                return "syncing elsewhere"
            self.running[tenant] = trigger
            try:
                outcome = await self._sync(tenant, trigger)
            finally:
                del self.running[tenant]
                await guard.scalar(sa.select(sa.func.pg_advisory_unlock(key)))
                await guard.commit()
        self.synced += 1
        if outcome.result is JobResult.STOPPED:
            # Stopped after the record in hand: another worker carries on at once.
            async with self.db.begin() as conn:
                await defer_syncs(self.app, conn, [tenant], trigger)
        return outcome.result.value

    async def _sync(self, tenant: str, trigger: str) -> JobOutcome:
        """The job body, holding the tenant's advisory lock.

        A lease a worker holds on the tenant is a dead worker's then: every worker's sync holds
        the advisory lock while it holds the lease. Such a lease is taken over at once instead
        of waiting for it to run out; one another kind of process holds (``run``,
        ``sync --once``) is waited for.
        """
        stop = self.stopping.is_set
        await carry_out_in_job(self.jobs, tenant)  # what operators asked (admin requests)
        if trigger == REQUESTS:
            # The job was deferred for the requests alone; those that sync have synced.
            return JobOutcome(tenant, JobResult.SYNCED, trigger)
        outcome = await sync_tenant_job(self.jobs, tenant, trigger, stop=stop)
        if outcome.result is JobResult.BUSY and await self._release_dead_lease(tenant):
            outcome = await sync_tenant_job(self.jobs, tenant, trigger, stop=stop)
        return outcome

    async def _release_dead_lease(self, tenant: str) -> bool:
        rows = t.tenant_schedules.c
        async with self.db.begin() as conn:
            result = await conn.execute(
                sa.update(t.tenant_schedules)
                .where(rows.tenant == tenant, rows.lease_owner.startswith(LEASE_PREFIX))
                .values(lease_owner=None, lease_until=None)
                .returning(rows.tenant)
            )
            released = result.first() is not None
        if released:
            log.warning("lease of a gone worker taken over", extra={"tenant": tenant})
        return released

    async def dispatch(self) -> int:
        """Defer a sync of every tenant whose cycle is due, moving its due time one interval
        on, in one transaction; the number of tenants picked."""
        tenants = await self.tenants.current()
        if not tenants:
            return 0
        rows = t.tenant_schedules.c
        now = self.db.clock()
        async with self.db.begin() as conn:
            await self._schedule_new(conn, tenants, now)
            due = (
                sa.select(rows.tenant)
                .where(
                    rows.tenant.in_(list(tenants)),
                    rows.next_cycle_at <= now,
                    rows.retry_at.is_(None) | (rows.retry_at <= now),
                )
                .order_by(rows.next_cycle_at)
                .limit(self.settings.dispatch_batch)
                .with_for_update(skip_locked=True)
            )
            picked = list((await conn.execute(due)).scalars())
            by_interval: dict[int, list[str]] = {}
            for name in picked:
                by_interval.setdefault(tenants[name].sync_interval_seconds, []).append(name)
            for interval, names in by_interval.items():
                await conn.execute(
                    sa.update(t.tenant_schedules)
                    .where(rows.tenant.in_(names))
                    .values(next_cycle_at=now + timedelta(seconds=interval), updated_at=now)
                )
            await defer_syncs(self.app, conn, picked, CYCLE)
            # A tenant with requests waiting gets a job for them (see service.requests).
            asked = set(await AdminRequests(self.db).waiting_tenants(list(RequestKind))) & set(
                tenants
            )
            await defer_syncs(self.app, conn, sorted(asked - set(picked)), REQUESTS)
        await carry_out_for_paused(self.db, self.jobs.process)
        if picked:
            log.info("tenants dispatched", extra={"tenants": len(picked)})
        return len(picked)

    @staticmethod
    async def _schedule_new(
        conn: AsyncConnection, tenants: Mapping[str, TenantConfig], now: datetime
    ) -> None:
        """A first due time for each tenant the schedule table does not know yet, spread over
        its interval."""
        rows = t.tenant_schedules.c
        known = set(
            (
                await conn.execute(sa.select(rows.tenant).where(rows.tenant.in_(list(tenants))))
            ).scalars()
        )
        new = [
            {
                "tenant": name,
                "next_cycle_at": now
                + timedelta(seconds=tenant.sync_interval_seconds * first_due_fraction(name)),
                "failures": 0,
                "updated_at": now,
            }
            for name, tenant in tenants.items()
            if name not in known
        ]
        if new:
            insert = sa.dialects.postgresql.insert(t.tenant_schedules)
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["tenant"]), new)

    async def sweep(self) -> int:
        """Give the jobs of silent workers back to the queue (see the module docstring); the
        number of jobs handled."""
        manager = self.app.job_manager
        stalled = list(
            await manager.get_stalled_jobs(seconds_since_heartbeat=self.settings.stalled_after)
        )
        for job in stalled:
            try:
                await manager.retry_job(job)
            except job_errors.UniqueViolation:
                # A newer job of the tenant waits already and covers this one.
                await manager.finish_job(job, status=Status.FAILED, delete_job=True)
            log.warning(
                "stalled job given back",
                extra={"job": job.id, "task": job.task_name, "kwargs": job.task_kwargs},
            )
        await manager.prune_stalled_workers(self.settings.stalled_after)
        return len(stalled)

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` answers: this worker's state and the syncs it runs now."""
        return {
            "status": "stopping" if self.stopping.is_set() else "ok",
            "running": dict(self.running),
            "synced": self.synced,
        }

    def hook_called(self, tenant: str, secret: str) -> bool:
        """Workers take no hooks (the feed process does)."""
        return False


@dataclass(frozen=True)
class WorkerOptions:
    """How ``webcrm-fortnox worker`` runs.

    Attributes:
        concurrency: syncs one worker process runs at once.
        jobs: the job queue's timing.
        sync: timing of the syncs themselves (backoff, full reconciliations).
        metrics_host: where ``/metrics`` and ``/healthz`` listen.
        metrics_port: their port (``None``: no server).
        places: by tenant name, where its settings are written (named in its messages).
        restart_delay: seconds before a worker whose connection to PostgreSQL broke starts
            again.
    """

    concurrency: int = 4
    jobs: JobSettings = field(default_factory=JobSettings)
    sync: WorkerSettings = field(default_factory=WorkerSettings)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9465
    places: Mapping[str, TenantPlace] | None = None
    restart_delay: float = 2.0


@contextlib.asynccontextmanager
async def health_server(served: Served, host: str, port: int | None) -> AsyncIterator[str | None]:
    if port is None:
        yield None
        return
    async with serving(health_app(served), host, port) as url:
        log.info("metrics and health served", extra={"url": url})
        yield url


async def serve_worker(
    url: str,
    db: StateDatabase,
    tenants: Iterable[TenantConfig],
    connector: Connector,
    options: WorkerOptions,
) -> int:
    """Run sync jobs until SIGTERM or SIGINT; 0 after a clean stop.

    Args:
        url: the state store's URL (PostgreSQL), where the jobs are.
        db: the state database at ``url`` (open).
        tenants: the configuration file's tenants (the registry's are found by name).
        connector: opens tenants' clients.
        options: how to run.
    """
    fixed = list(tenants)
    app = create_app(url, "worker")
    jobs = JobContext(
        db,
        connector,
        settings=options.sync,
        tenants=fixed,
        places=options.places,
        actor="worker",
    )
    async with app.open_async(), jobs:
        runtime = WorkerRuntime(
            app, db, jobs, Tenants(fixed, Registry(db, connector.keys)), options.jobs
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runtime.stopping.set)
        try:
            async with health_server(runtime, options.metrics_host, options.metrics_port):
                await _work(app, runtime, options)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
    return 0


async def _work(app: procrastinate.App, runtime: WorkerRuntime, options: WorkerOptions) -> None:
    """Procrastinate's worker until stopped, started again when it ends by itself (its
    connection to PostgreSQL broke: it stops when its heartbeat or listener fails)."""
    settings = options.jobs
    name = f"{socket.gethostname()}:{os.getpid()}"
    while not runtime.stopping.is_set():
        worker = asyncio.create_task(
            app.run_worker_async(
                name=name,
                concurrency=options.concurrency,
                install_signal_handlers=False,
                additional_context={RUNTIME: runtime},
                fetch_job_polling_interval=FETCH_POLL,
                update_heartbeat_interval=settings.heartbeat,
                stalled_worker_timeout=settings.stalled_after,
                shutdown_graceful_timeout=settings.stop_grace,
                delete_jobs="successful",
            )
        )
        stop = asyncio.create_task(runtime.stopping.wait())
        await asyncio.wait({worker, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not worker.done():
            # Procrastinate's graceful shutdown: no new job; the running ones (told to stop
            # after the record in hand by runtime.stopping) are waited for.
            worker.cancel()
        stop.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("job worker failed; starting again")
        if not runtime.stopping.is_set():
            log.warning("job worker ended; starting again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.stopping.wait(), options.restart_delay)


async def worker_command(command: Command, options: WorkerOptions) -> int:
    """``worker``: the configuration file's tenants and the registry's, as sync jobs.

    Raises:
        JobQueueError: the state store is not on PostgreSQL.
    """
    url = command.config.state.url
    conninfo(url)  # refuses SQLite before anything is opened
    in_file = {t.name for t in command.config.tenant}
    fixed = [t for t in command.tenants if t.name in in_file]
    places = {t.name: place for t in fixed if (place := command.place(t)) is not None}
    async with open_state(url) as db:
        return await serve_worker(
            url, db, fixed, command.connector, dataclasses.replace(options, places=places)
        )
