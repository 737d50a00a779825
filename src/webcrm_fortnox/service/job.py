"""One sync of one tenant as a job any process can run: :func:`sync_tenant_job`.

Everything a sync needs to know between two runs lives in the state store (the tenant's
schedule, lease, health, cycles, the change feed's announcements, the rate-limit windows), so
the process that runs a tenant's next sync need not be the one that ran the last.

How a scheduler calls it
------------------------
Make one :class:`JobContext` per process (it holds the state database, the
:class:`~webcrm_fortnox.service.connections.Connector` and its rate-limit registries, the
metrics, and a bounded cache of open per-tenant clients), and close it when the process ends::

    async with JobContext(db, Connector(keys=keys), tenants=file_tenants) as ctx:
        ...
        outcome = await sync_tenant_job(ctx, "acme", "cycle")   # one call per job

Each call loads the tenant by name (a tenant given to the context, else the registry), takes
its lease (so no other process syncs it meanwhile; a busy tenant is an outcome, not a wait),
syncs it once, records the cycle, health, lag and metrics, and stores the tenant's next
schedule, computed by the pure :func:`next_schedule`. It never raises for the tenant: every
way it can end is a :class:`JobOutcome` (only the state store failing outside the sync
raises). ``outcome.schedule`` tells when the tenant wants its next job: :func:`due_at` (with
the trigger ``"cycle"``). A tenant paused for its credentials has no due time: ask again every
``settings.pause_check`` seconds; until the credentials change the job only reads the schedule
and the tokens' version and answers ``paused``. A job for a change (any other trigger) reads
only what the change feed announced, while the feed vouches for the tenant.
Jobs of different tenants may run at once in one context; they share its clients' cache, the
connector's rate limiters and the database's connection pool, nothing else.

``run`` (:class:`~webcrm_fortnox.service.worker.TenantWorker`) calls it for every sync, and so do
``sync --once`` and ``retry``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.engine.adapters.common import Announced
from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.engine.sync import Progress
from webcrm_fortnox.service.connections import Connector, NotConnectedError, TenantClients
from webcrm_fortnox.service.metrics import ServiceMetrics
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.service.runner import (
    FAILING,
    OK,
    RECONNECT,
    SyncOptions,
    TenantPlace,
    TenantRun,
    health_after,
    sync_tenant,
)
from webcrm_fortnox.service.vault import TokenKeyError
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.feed import FeedSnapshot, FeedStore
from webcrm_fortnox.store.lag import LagSamples
from webcrm_fortnox.store.registry import TenantState
from webcrm_fortnox.store.service import Schedule, ServiceStore
from webcrm_fortnox.store.state import HEALTH

log = logging.getLogger(__name__)

#: The tenant's health when its Fortnox credentials cannot be used yet (beside runner's).
NOT_CONNECTED = "not connected"

#: The trigger of a scheduled cycle (it lists every change, and moves the next cycle on).
CYCLE = "cycle"
#: Triggers of a person's command: they sync a tenant the schedule holds paused, and list.
COMMAND_TRIGGERS = frozenset({"once", "retry"})

#: How long a process's claim to sync a tenant lasts unless renewed (every third of it while
#: the sync runs): how long a tenant waits after the process syncing it was killed.
LEASE_SECONDS = 60.0

#: Open per-tenant client pairs a context keeps between jobs (least recently used go first).
DEFAULT_CLIENTS = 64


class StopRequested(BaseException):
    """Raised between two records when the caller asks a sync to stop; the record in hand is
    done. A BaseException, so that nothing on the way treats it as a failure of the record."""


@dataclass(frozen=True)
class WorkerSettings:
    """Timing of the service, beside each tenant's own intervals.

    Attributes:
        full_every: seconds between full reconciliations (default nightly).
        debounce: seconds to wait after a trigger for more changes to collapse into one sync.
        first_backoff: seconds before the first retry of a failing tenant (doubles each time).
        max_backoff: the longest wait between retries of a failing tenant.
        pause_check: seconds between looks for new credentials of a paused tenant.
        feed_down_poll: whether the webCRM poll also syncs while Fortnox's feed is down.
    """

    full_every: float = 24 * 3600.0
    debounce: float = 0.5
    first_backoff: float = 5.0
    max_backoff: float = 1800.0
    pause_check: float = 5.0
    feed_down_poll: bool = True


class JobResult(enum.StrEnum):
    """How one job ended."""

    #: the sync ran (it may have stopped on a system's error: see the health)
    SYNCED = "synced"
    #: the tenant is paused until new credentials come (found so now, or still)
    PAUSED = "paused"
    #: an unexpected error (a defect, the state store) ended the sync; it is retried
    ERROR = "error"
    #: the caller asked it to stop; it stopped after the record in hand
    STOPPED = "stopped"
    #: another process is syncing the tenant
    BUSY = "busy"
    #: no tenant of that name is given or registered, or it cannot be loaded here
    UNKNOWN = "unknown"
    #: a person paused or removed the registered tenant
    INACTIVE = "inactive"


@dataclass(frozen=True)
class JobOutcome:
    """What one :func:`sync_tenant_job` did.

    Attributes:
        tenant: the tenant's name.
        result: how it ended.
        trigger: what asked for it.
        mode: the sync's mode, when one ran.
        health: the tenant's health after it (``None``: not known, or unchanged).
        reason: why the tenant is not ``ok`` (or why nothing ran), in plain English.
        run: the sync's run, when it ran to an end.
        schedule: the tenant's schedule as stored after it (``None``: no tenant to schedule).
        credentials: the version of the tenant's credentials it ran with (see
            :attr:`Schedule.paused_tokens`).
        actor: who ran it (``run``, ``sync --once``, …), recorded when it pauses the tenant.
    """

    tenant: str
    result: JobResult
    trigger: str
    mode: Mode | None = None
    health: str | None = None
    reason: str | None = None
    run: TenantRun | None = None
    schedule: Schedule | None = None
    credentials: str | None = None
    actor: str = "run"

    @property
    def completed(self) -> bool:
        """Whether a sync ran to its end (what it was to read, it read)."""
        return self.run is not None and not self.run.stopped

    def tenant_run(self) -> TenantRun:
        """The run, or one that says why there was none (for the commands' reports)."""
        return self.run or TenantRun(self.tenant, message=self.reason or self.result.value)


# -- the schedule, as pure functions ------------------------------------------------------------


def backoff(failures: int, settings: WorkerSettings) -> float:
    """Seconds a tenant that failed ``failures`` times in a row waits: doubling, capped."""
    delay: float = settings.first_backoff * 2.0 ** max(0, failures - 1)
    return min(settings.max_backoff, delay)


def first_schedule(
    stored: Schedule, now: datetime, first_cycle_in: float, settings: WorkerSettings
) -> Schedule:
    """``stored``, with the moments it lacks set: the first cycle after ``first_cycle_in``
    seconds (so that many tenants do not cycle in step), a full reconciliation after
    ``settings.full_every``."""
    return replace(
        stored,
        next_cycle_at=stored.next_cycle_at or now + timedelta(seconds=first_cycle_in),
        next_full_at=stored.next_full_at or now + timedelta(seconds=settings.full_every),
    )


def next_schedule(
    stored: Schedule,
    outcome: JobOutcome,
    now: datetime,
    settings: WorkerSettings,
    interval: float,
) -> Schedule:
    """The tenant's schedule after ``outcome``, from the one ``stored`` before it.

    - A job that did not sync (busy, stopped, no such tenant, still paused) changes nothing.
    - A scheduled cycle, and any full reconciliation, puts the next cycle ``interval`` seconds
      on; a full one that completed, the next full reconciliation ``settings.full_every``.
    - A sync that completed clears the failures and any pause; one that failed counts a failure
      and waits :func:`backoff`; one whose credentials were refused (or that has none) pauses
      the tenant, with who, why, and the credentials it paused with (others resume it).
    """
    if outcome.result not in (JobResult.SYNCED, JobResult.PAUSED, JobResult.ERROR):
        return stored
    paused = (outcome.health, outcome.credentials)
    if outcome.result is JobResult.PAUSED and paused == (stored.paused, stored.paused_tokens):
        return stored  # still paused, and so with the same credentials
    moves = outcome.trigger == CYCLE or outcome.mode is Mode.FULL
    next_cycle = now + timedelta(seconds=interval) if moves else stored.next_cycle_at
    next_full = stored.next_full_at or now + timedelta(seconds=settings.full_every)
    if outcome.mode is Mode.FULL and outcome.completed:
        next_full = now + timedelta(seconds=settings.full_every)
    kept = Schedule(next_cycle_at=next_cycle, next_full_at=next_full, failures=stored.failures)
    if outcome.result is JobResult.PAUSED:
        return replace(
            kept,
            paused=outcome.health,
            paused_by=outcome.actor,
            paused_reason=outcome.reason,
            paused_tokens=outcome.credentials,
        )
    if outcome.health == OK:
        return replace(kept, failures=0)
    failures = stored.failures + 1
    retry_at = now + timedelta(seconds=backoff(failures, settings))
    return replace(kept, failures=failures, retry_at=retry_at)


def due_at(schedule: Schedule) -> datetime | None:
    """When the tenant's next scheduled job is due: its next cycle, but not before the backoff
    lets it (``None``: no cycle is scheduled). A paused tenant is due when its credentials
    change, which no time tells."""
    moments = [at for at in (schedule.next_cycle_at, schedule.retry_at) if at is not None]
    return max(moments) if schedule.next_cycle_at is not None else None


# -- the clients, kept between jobs -------------------------------------------------------------


def fingerprint(tenant: TenantConfig) -> str:
    """A digest of every setting of ``tenant``, secrets included: clients opened with other
    settings or credentials are other clients."""

    def plain(value: object) -> object:
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    dumped = json.dumps(tenant.model_dump(), default=plain, sort_keys=True)
    return hashlib.sha256(dumped.encode()).hexdigest()


@dataclass
class _Entry:
    """One tenant's open clients in a :class:`ClientCache`."""

    fingerprint: str
    stack: AsyncExitStack
    clients: TenantClients
    users: int = 0
    #: replaced or discarded: closed when its last user lets go
    stale: bool = False
    #: what the clients had spent when last counted into the metrics, by system
    marks: dict[str, dict[str, int]] = field(default_factory=dict)


class ClientCache:
    """Open per-tenant clients, kept between jobs and shared by the jobs that run at once.

    An entry is keyed by the tenant's name and :func:`fingerprint`: a tenant whose settings or
    credentials changed gets new clients (the old ones close once unused). At most ``size``
    unused entries stay open; beyond that the least recently used close. Entries in use are
    never closed under their users.

    Args:
        db: the state database (rate-limit windows, token rotation).
        connector: opens the clients.
        size: how many entries to keep open.
    """

    def __init__(self, db: StateDatabase, connector: Connector, size: int = DEFAULT_CLIENTS):
        self.db = db
        self.connector = connector
        self.vault = connector.vault(ServiceStore(db))
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._opening = asyncio.Lock()

    def current(self, name: str) -> TenantClients | None:
        """The tenant's open clients, if any."""
        entry = self._entries.get(name)
        return None if entry is None else entry.clients

    @asynccontextmanager
    async def hold(
        self, tenant: TenantConfig, *, handover: bool = True
    ) -> AsyncIterator[TenantClients]:
        """The tenant's clients for the block (opened unless open with these settings).

        Args:
            tenant: the tenant.
            handover: take the vendors' rate-limit windows over from the store at the start and
                hand them over at the end (what one job does; see
                :mod:`webcrm_fortnox.store.ratelimits`).

        Raises:
            NotConnectedError, TokenKeyError: the tenant's clients cannot be opened.
        """
        entry = await self._entry(tenant)
        entry.users += 1
        try:
            if not handover:
                yield entry.clients
            else:
                async with self.connector.windows(self.db).kept(entry.clients.windows):
                    yield entry.clients
        finally:
            entry.users -= 1
            await self._trim(entry)

    async def _entry(self, tenant: TenantConfig) -> _Entry:
        digest = fingerprint(tenant)
        async with self._opening:
            entry = self._entries.get(tenant.name)
            if entry is not None and entry.fingerprint == digest:
                self._entries.move_to_end(tenant.name)
                return entry
            if entry is not None:
                await self.discard(tenant.name)
            stack = AsyncExitStack()
            try:
                clients = await stack.enter_async_context(
                    self.connector.clients(tenant, vault=self.vault)
                )
            except BaseException:
                await stack.aclose()
                raise
            entry = self._entries[tenant.name] = _Entry(digest, stack, clients)
            return entry

    async def discard(self, name: str) -> None:
        """Close the tenant's clients (once unused): the next job opens new ones."""
        entry = self._entries.pop(name, None)
        if entry is not None:
            entry.stale = True
            await self._trim(entry)

    async def _trim(self, released: _Entry) -> None:
        if released.stale and released.users == 0:
            await released.stack.aclose()
        idle = [name for name, entry in self._entries.items() if entry.users == 0]
        for name in idle[: max(0, len(self._entries) - self.size)]:
            await self._entries.pop(name).stack.aclose()

    def count_calls(self, name: str, metrics: ServiceMetrics) -> None:
        """Add what the tenant's clients spent since they were last counted to ``metrics``."""
        entry = self._entries.get(name)
        if entry is None:
            return
        clients = entry.clients
        for system, client in (("webcrm", clients.webcrm), ("fortnox", clients.fortnox)):
            stats = client.stats
            now = dict(stats if isinstance(stats, dict) else stats.as_dict())
            before = entry.marks.get(system, {})
            metrics.add_calls(name, system, {k: v - before.get(k, 0) for k, v in now.items()})
            entry.marks[system] = now

    async def close(self) -> None:
        """Close every entry (at the end of the process)."""
        entries, self._entries = list(self._entries.values()), OrderedDict()
        for entry in entries:
            await entry.stack.aclose()


# -- the context --------------------------------------------------------------------------------


class JobContext:
    """What the jobs of one process share; make one per process, close it at the end.

    Args:
        db: the state database (open).
        connector: opens tenants' clients (holds the rate-limit registries).
        metrics: where the jobs count (default: a registry of their own).
        settings: timing shared by all tenants.
        tenants: tenants given to the process (a configuration file's), found by name before
            the registry.
        places: by tenant name, where its settings are written (named in its messages).
        actor: who runs the jobs, recorded when one pauses a tenant (``run``, ``sync --once``).
        clients: how many unused per-tenant client pairs stay open between jobs.
    """

    def __init__(
        self,
        db: StateDatabase,
        connector: Connector,
        *,
        metrics: ServiceMetrics | None = None,
        settings: WorkerSettings | None = None,
        tenants: Sequence[TenantConfig] = (),
        places: Mapping[str, TenantPlace] | None = None,
        actor: str = "run",
        clients: int = DEFAULT_CLIENTS,
    ) -> None:
        self.db = db
        self.connector = connector
        self.metrics = metrics or ServiceMetrics()
        self.settings = settings or WorkerSettings()
        self.tenants = {tenant.name: tenant for tenant in tenants}
        self.places = dict(places or {})
        self.actor = actor
        self.store = ServiceStore(db)
        self.feed = FeedStore(db)
        self.registry = Registry(db, connector.keys)
        self.clients = ClientCache(db, connector, clients)
        self.vault = self.clients.vault
        #: names this process among those holding tenants' leases
        self.process = f"{_this_machine()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def add(self, tenant: TenantConfig, place: TenantPlace | None = None) -> None:
        """Give the process one more tenant (found by name before the registry)."""
        self.tenants[tenant.name] = tenant
        if place is not None:
            self.places[tenant.name] = place

    def now(self) -> datetime:
        """The time schedules and leases are kept in (the state store's clock)."""
        return self.db.clock()

    async def tenant(self, name: str) -> TenantConfig | JobOutcome:
        """The tenant called ``name``; when there is none to sync, the outcome that says why."""
        given = self.tenants.get(name)
        if given is not None:
            return given
        row = await self.registry.store.row(name)
        if row is None:
            return JobOutcome(name, JobResult.UNKNOWN, "", reason=f"no tenant named {name!r}")
        if row.state is not TenantState.ACTIVE:
            why = f" ({row.reason})" if row.reason else ""
            reason = f"the registered tenant is {row.state.value}{why}"
            return JobOutcome(name, JobResult.INACTIVE, "", reason=reason)
        loaded = self.registry.load(row)
        if loaded.config is None:
            return JobOutcome(name, JobResult.UNKNOWN, "", reason=loaded.problem)
        return loaded.config

    async def credentials(self, tenant: TenantConfig) -> str:
        """A version of the tenant's credentials: its settings' and its stored tokens'; it
        changes when either does (``connect`` ran, or the settings were fixed)."""
        tokens = None if self.vault is None else await self.vault.version(tenant.name)
        return hashlib.sha256(f"{fingerprint(tenant)}|{tokens}".encode()).hexdigest()

    async def close(self) -> None:
        """Close every tenant's clients."""
        await self.clients.close()

    async def __aenter__(self) -> JobContext:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# -- the job ------------------------------------------------------------------------------------


async def keep_clients(
    ctx: JobContext, tenant: TenantConfig
) -> tuple[AsyncExitStack, TenantClients, int | None]:
    """The tenant's clients from the process's cache, held until the returned stack is closed
    (a process that follows the tenant between jobs), and the Fortnox company its stored grant
    names (an authorization-code tenant's; else ``None``).

    Raises:
        NotConnectedError, TokenKeyError: the clients cannot be opened.
    """
    stack = AsyncExitStack()
    try:
        clients = await stack.enter_async_context(ctx.clients.hold(tenant, handover=False))
        company = None
        if ctx.vault is not None and tenant.fortnox.auth == "authorization-code":
            grant = await ctx.vault.load(tenant.name)
            company = None if grant is None else grant.tenant_id
    except BaseException:
        await stack.aclose()
        raise
    return stack, clients, company


async def sync_tenant_job(
    ctx: JobContext,
    tenant_name: str,
    trigger: str,
    *,
    mode: Mode | None = None,
    retry_error: int | None = None,
    stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
    announced_at: Callable[[str], datetime | None] | None = None,
    cycle_of: datetime | None = None,
) -> JobOutcome:
    """Sync one tenant once, record it, and store its next schedule.

    Args:
        ctx: the process's context.
        tenant_name: the tenant.
        trigger: what asks for it: ``"cycle"`` (the schedule), a change (``"fortnox feed"``,
            ``"webcrm hook"``, ``"webcrm poll"``, …), ``"once"``, ``"retry"``. A scheduled cycle
            and a person's command list every change; a change's sync reads only what the
            change feed announced, while the feed vouches for the tenant.
        mode: the sync's mode (default: full when the stored schedule says a full
            reconciliation is due, else incremental).
        retry_error: in retry mode, the one error to retry (default: every open one).
        stop: asked between records; true stops the sync after the record in hand.
        progress: called after each applied action with (done, total, outcome).
        announced_at: when the Fortnox record of an id was announced changed (the caller's
            knowledge of its triggers), to measure the propagation lag.
        cycle_of: for a scheduled cycle, the due time the caller read it for. When the
            schedule, read again under the lease, has moved on from it, another process ran
            that cycle meanwhile: the job syncs nothing and returns ``busy`` with the schedule.

    Returns:
        How it went. A tenant the schedule holds paused is synced only when its credentials
        changed since (or a person's command asks); one another process holds is ``busy``.
    """
    found = await ctx.tenant(tenant_name)
    if isinstance(found, JobOutcome):
        return replace(found, trigger=trigger, actor=ctx.actor)
    tenant = found
    stored = await ctx.store.schedule(tenant.name) or Schedule()
    credentials = await ctx.credentials(tenant)
    start = JobOutcome(tenant.name, JobResult.BUSY, trigger, credentials=credentials)
    start = replace(start, schedule=stored, actor=ctx.actor)
    if stored.paused and trigger not in COMMAND_TRIGGERS and stored.paused_tokens == credentials:
        paused = replace(start, result=JobResult.PAUSED, health=stored.paused)
        return replace(paused, reason=stored.paused_reason)
    owner = f"{ctx.process}:{uuid.uuid4().hex[:8]}"
    if not await _claim(ctx, tenant.name, owner):
        log.info("tenant syncing in another process; skipped", extra={"tenant": tenant.name})
        return replace(start, reason="another process is syncing the tenant")
    if cycle_of is not None:
        # What the caller read may predate another process's sync: only the lease holder's
        # read of the schedule says whether the cycle is still due.
        stored = await ctx.store.schedule(tenant.name) or Schedule()
        start = replace(start, schedule=stored)
        if stored.next_cycle_at != cycle_of:
            await ctx.store.release(tenant.name, owner)
            return replace(start, reason="another process ran the cycle")
    renewing = asyncio.create_task(_renew(ctx, tenant.name, owner))
    released = False
    try:
        due = stored.next_full_at is not None and stored.next_full_at <= ctx.now()
        chosen = mode or (Mode.FULL if due else Mode.INCREMENTAL)
        sync = _Sync(ctx, tenant, replace(start, mode=chosen), stop, progress, announced_at)
        outcome = await sync.run(retry_error)
        interval = float(tenant.sync_interval_seconds)
        schedule = next_schedule(stored, outcome, ctx.now(), ctx.settings, interval)
        values: dict[str, Any] = {} if sync.lag is None else {"lag": sync.lag}
        if outcome.result in (JobResult.PAUSED, JobResult.ERROR):
            values[HEALTH] = {"state": outcome.health, "reason": outcome.reason}
        await ctx.store.finish(tenant.name, owner, schedule if schedule != stored else None, values)
        released = True
        await LagSamples(ctx.db).record(tenant.name, sync.samples)
        return replace(outcome, schedule=schedule)
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        if not released:
            with contextlib.suppress(Exception):
                await ctx.store.release(tenant.name, owner)


async def _claim(ctx: JobContext, tenant: str, owner: str) -> bool:
    """Take the tenant's lease; also from a process of this machine that has ended (killed,
    say, during ``sync --once``), which need not be waited out."""
    if await ctx.store.claim(tenant, owner, LEASE_SECONDS):
        return True
    holder = await ctx.store.lease_owner(tenant)
    if holder is None or not _gone(holder):
        return False
    log.info("tenant lease of an ended process taken over", extra={"tenant": tenant})
    return await ctx.store.claim(tenant, owner, LEASE_SECONDS, instead_of=holder)


def _this_machine() -> str:
    """This machine and its process namespace, as a lease owner names them (two containers
    may share a host name, not a process namespace)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}|{namespace}"


def _gone(owner: str) -> bool:
    """Whether the lease ``owner`` names a process of this machine that no longer runs."""
    parts = owner.rsplit(":", 3)  # machine, process id, process's context, job
    if len(parts) != 4 or parts[0] != _this_machine() or not parts[1].isdigit():
        return False
    pid = parts[1]
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it runs, as another user
    return False


async def _renew(ctx: JobContext, tenant: str, owner: str) -> None:
    """Keep the lease while the sync runs (a process that dies lets it run out)."""
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        try:
            await ctx.store.renew(tenant, owner, LEASE_SECONDS)
        except Exception:
            log.exception("tenant lease not renewed", extra={"tenant": tenant})


async def feed_announced(
    feed: FeedStore, tenant: str, mode: Mode, trigger: str
) -> tuple[Announced | None, FeedSnapshot]:
    """The Fortnox records a sync may read instead of listing changes by ``lastmodified``
    (``None`` when it must list them), and the feed's state they come from.

    Only a sync started by a change (the scheduled cycle is the safety net and always lists,
    and so does a person's command) and only while the feed vouches for the tenant: it has
    carried the tenant without a gap since a sync that listed (see
    :class:`~webcrm_fortnox.store.feed.FeedStore`).
    """
    snapshot = await feed.snapshot(tenant)
    listing = trigger == CYCLE or trigger in COMMAND_TRIGGERS
    if mode is not Mode.INCREMENTAL or listing or not snapshot.vouched:
        return None, snapshot
    return Announced.of(snapshot.announced), snapshot


class _Sync:
    """One job's sync, holding the lease: the clients, the feed, the sync, the accounting."""

    def __init__(
        self,
        ctx: JobContext,
        tenant: TenantConfig,
        start: JobOutcome,
        stop: Callable[[], bool] | None,
        progress: Progress | None,
        announced_at: Callable[[str], datetime | None] | None,
    ) -> None:
        self.ctx = ctx
        self.tenant = tenant
        self.name = tenant.name
        self.start = start
        self.stop = stop
        self.shown = progress
        self.announced_at = announced_at
        #: the last propagation lag measured, to store
        self.lag: dict[str, Any] | None = None
        #: every lag measured (direction, seconds), kept as samples for the read model
        self.samples: list[tuple[str, float]] = []

    async def run(self, retry_error: int | None) -> JobOutcome:
        ctx, start = self.ctx, self.start
        assert start.mode is not None
        began = time.monotonic()
        try:
            async with ctx.clients.hold(self.tenant) as clients:
                try:
                    return await self._sync(clients, start.mode, retry_error, began)
                finally:
                    ctx.clients.count_calls(self.name, ctx.metrics)
        except (NotConnectedError, TokenKeyError) as error:
            return await self._pause(start, NOT_CONNECTED, str(error))
        except StopRequested:
            log.info("tenant sync stopped between records", extra={"tenant": self.name})
            return replace(start, result=JobResult.STOPPED)
        except Exception as error:
            log.exception("tenant sync failed", extra={"tenant": self.name})
            ctx.metrics.tenant_up.labels(tenant=self.name).set(0)
            await ctx.clients.discard(self.name)  # they may be what broke: new ones next time
            reason = f"internal error: {type(error).__name__}: {error}"
            failed = replace(start, result=JobResult.ERROR, health=FAILING, reason=reason)
            _log_backoff(failed, self.ctx.settings)
            return failed

    async def _sync(
        self, clients: TenantClients, mode: Mode, retry_error: int | None, began: float
    ) -> JobOutcome:
        ctx, trigger = self.ctx, self.start.trigger
        announced, snapshot = await feed_announced(ctx.feed, self.name, mode, trigger)
        options = SyncOptions(
            mode=mode,
            trigger=trigger,
            retry_error=retry_error,
            progress=self._progress,
            now=clients.now,
            announced=announced,
            place=ctx.places.get(self.name),
        )
        run = await sync_tenant(
            self.tenant, ctx.db.tenant(self.name), clients.webcrm, clients.fortnox, options
        )
        if not run.stopped:
            await ctx.feed.settle(self.name, snapshot, listed=announced is None)
        health, reason = health_after(run)
        outcome = replace(self.start, result=JobResult.SYNCED, health=health, reason=reason)
        outcome = replace(outcome, run=run)
        self._account(outcome, time.monotonic() - began)
        if health == RECONNECT:
            return await self._pause(replace(outcome, result=JobResult.PAUSED), health, reason)
        return outcome

    def _progress(self, done: int, total: int, outcome: RecordOutcome) -> None:
        self._observe(outcome)
        if self.shown is not None:
            self.shown(done, total, outcome)
        # After the last record the cursors are stored; before it, stop if asked.
        if self.stop is not None and self.stop() and done < total:
            raise StopRequested()

    def _observe(self, outcome: RecordOutcome) -> None:
        """Propagation lag of one outcome."""
        action = outcome.action
        if outcome.status is not RecordStatus.SYNCED or not action.writes:
            return
        # The announcements' times are Fortnox's; the clients' clock is the one that agrees.
        now = self.ctx.connector.clock.now()
        targets = {change.system for change in action.changes}
        announced = None
        if self.announced_at is not None and outcome.fortnox_id:
            announced = self.announced_at(outcome.fortnox_id)
        if announced is not None and "webcrm" in targets:
            self._lag("fortnox->webcrm", (now - announced).total_seconds(), now)
        webcrm_record = action.records.get("webcrm")
        if webcrm_record is not None and webcrm_record.modified_at and "fortnox" in targets:
            self._lag("webcrm->fortnox", (now - webcrm_record.modified_at).total_seconds(), now)

    def _lag(self, direction: str, seconds: float, now: datetime) -> None:
        seconds = max(0.0, seconds)
        self.ctx.metrics.lag.labels(tenant=self.name, direction=direction).observe(seconds)
        at = now.isoformat(timespec="seconds")
        self.lag = {"seconds": round(seconds, 3), "direction": direction, "at": at}
        self.samples.append((direction, round(seconds, 3)))

    def _account(self, outcome: JobOutcome, seconds: float) -> None:
        """Metrics and the log line of a sync that ran."""
        metrics, run = self.ctx.metrics, outcome.run
        assert run is not None and outcome.mode is not None
        counts: dict[str, dict[str, int]] = {}
        for result in run.results:
            counts[result.entity] = result.counts
            for status, n in result.counts.items():
                metrics.records.labels(tenant=self.name, entity=result.entity, status=status).inc(n)
            conflicts = sum(len(o.action.conflicts) for o in result.outcomes)
            if conflicts:
                metrics.conflicts.labels(tenant=self.name, entity=result.entity).inc(conflicts)
        result_name = "stopped" if run.stopped else "completed"
        metrics.syncs.labels(tenant=self.name, trigger=outcome.trigger, result=result_name).inc()
        metrics.tenant_up.labels(tenant=self.name).set(1 if outcome.health == OK else 0)
        if outcome.health == OK:
            metrics.last_success.labels(tenant=self.name).set(time.time())
        log.info(
            "tenant synced" if not run.stopped else "tenant sync stopped",
            extra={
                "tenant": self.name,
                "mode": outcome.mode.value,
                "trigger": outcome.trigger,
                "counts": counts,
                "seconds": round(seconds, 3),
                "reason": run.reason,
            },
        )
        if outcome.health == FAILING:
            _log_backoff(outcome, self.ctx.settings)

    async def _pause(self, outcome: JobOutcome, health: str, reason: str | None) -> JobOutcome:
        """Pause the tenant until its credentials change; its clients are closed."""
        self.ctx.metrics.tenant_up.labels(tenant=self.name).set(0)
        await self.ctx.clients.discard(self.name)
        log.warning("tenant paused", extra={"tenant": self.name, "state": health, "reason": reason})
        return replace(outcome, result=JobResult.PAUSED, health=health, reason=reason)


def _log_backoff(outcome: JobOutcome, settings: WorkerSettings) -> None:
    failures = (outcome.schedule.failures if outcome.schedule else 0) + 1
    log.warning(
        "tenant sync failed; backing off",
        extra={
            "tenant": outcome.tenant,
            "retry_in": backoff(failures, settings),
            "reason": outcome.reason,
        },
    )
