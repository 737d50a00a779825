"""One tenant inside ``run``: when to sync, one sync at a time, backoff, pause, and accounting.

A :class:`TenantWorker` keeps the tenant's clients open between syncs and wakes up for

- the full cycle, every ``sync_interval_seconds`` (a full reconciliation every ``full_every``);
- triggers: Fortnox change-feed events, webCRM hooks, and its own cheap ``/Queries`` poll every
  ``webcrm_poll_seconds`` (while Fortnox's feed is down, the poll also runs a sync, which reads
  Fortnox's changes by ``lastmodified``).

A triggered sync is the engine's incremental run from the stored cursors: it reads only the
records changed since the last sync (on both sides) and nothing else. Triggers that arrive
close together, or while a sync runs, collapse into one more sync: that is the per-record
debounce. The sync itself is :func:`~webcrm_fortnox.service.runner.sync_tenant`, a plain
async function of configuration, state store and clients, so another scheduler (a job engine on
PostgreSQL) can run it instead of this class.

A failing tenant waits longer after each failure (capped), without holding anyone else up. A
revoked or expired Fortnox grant pauses the tenant, cursors untouched, until ``connect`` stores
new tokens; the next sync then catches up on everything changed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.engine.adapters.common import Announced
from webcrm_fortnox.engine.adapters.webcrm_feed import feed_start
from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.errors import (
    ApiError,
    ValidationError,
)
from webcrm_fortnox.service.connections import Connector, NotConnectedError, TenantClients
from webcrm_fortnox.service.metrics import ServiceMetrics
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
from webcrm_fortnox.service.vault import TokenKeyError, TokenVault
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.feed import FeedSnapshot, FeedStore
from webcrm_fortnox.store.service import Schedule, ServiceStore
from webcrm_fortnox.store.state import HEALTH
from webcrm_fortnox.webcrm.models import CHANGE_TRACKED

log = logging.getLogger(__name__)

#: webCRM tables whose changes wake a tenant, by the entity whose cursor says "seen up to".
WEBCRM_TABLES = (
    ("customer", "organisation"),
    ("document", "delivery"),
    ("document", "quotationline"),  # a line saved alone (see engine.adapters.documents)
)

#: Seconds a sync that has just opened the clients waits for the change feed to subscribe them.
FEED_JOIN_WAIT = 5.0

# Tenant health as ``status`` shows it, beside those a sync leaves (ok, failing, reconnect).
NOT_CONNECTED = "not connected"
STARTING = "starting"


#: How long a process's claim to sync a tenant lasts unless renewed (every third of it while
#: the sync runs): how long a tenant waits after the process syncing it was killed.
LEASE_SECONDS = 60.0


class StopRequested(BaseException):
    """Raised between two records when the service is stopping; the record in hand is done.

    A BaseException, so that nothing on the way treats it as a failure of the record.
    """


@dataclass(frozen=True)
class WorkerSettings:
    """Timing of the service, beside each tenant's own intervals.

    Attributes:
        full_every: seconds between full reconciliations (default nightly).
        debounce: seconds to wait after a trigger for more changes to collapse into one sync.
        first_backoff: seconds before the first retry of a failing tenant (doubles each time).
        max_backoff: the longest wait between retries of a failing tenant.
        pause_check: seconds between looks for new tokens of a paused tenant.
        feed_down_poll: whether the webCRM poll also syncs while Fortnox's feed is down.
    """

    full_every: float = 24 * 3600.0
    debounce: float = 0.5
    first_backoff: float = 5.0
    max_backoff: float = 1800.0
    pause_check: float = 5.0
    feed_down_poll: bool = True


class TenantWorker:
    """Runs one tenant's syncs for the service.

    Args:
        tenant: its configuration.
        db: the state database.
        connector: opens its clients.
        metrics: where it counts.
        settings: service-wide timing.
        monotonic: the clock intervals are measured with.
        place: where its settings are written, named when one of them is at fault.
        first_cycle_delay: seconds from start to the first cycle, when the store has no
            schedule of the tenant yet (so that many tenants do not cycle in step).
    """

    def __init__(
        self,
        tenant: TenantConfig,
        db: StateDatabase,
        connector: Connector,
        metrics: ServiceMetrics,
        settings: WorkerSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        place: TenantPlace | None = None,
        first_cycle_delay: float = 0.0,
    ) -> None:
        self.tenant = tenant
        self.place = place
        #: who holds the tenant's lease while this worker syncs it
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.name = tenant.name
        self.db = db
        self.state = db.tenant(tenant.name)
        self.store = ServiceStore(db)
        self.connector = connector
        self.vault: TokenVault | None = connector.vault(self.store)
        self.metrics = metrics
        self.settings = settings
        self.monotonic = monotonic
        #: one sync of this tenant at a time (the demo also holds it to make edits atomically)
        self.lock = asyncio.Lock()
        self.health = STARTING
        self.reason: str | None = None
        self.failures = 0
        self.clients: TenantClients | None = None
        #: set once clients are open (the change feed subscribes with their tokens)
        self.ready = asyncio.Event()
        #: whether this process's change feed carries the tenant now (else Fortnox is polled)
        self.feed_live = False
        #: set while a change feed serving the tenant carries it (``None``: none serves it)
        self.feed_joined: asyncio.Event | None = None
        #: the clients were opened and no sync has used them yet
        self._fresh_clients = False
        #: what the feed vouched for and announced (kept in the store, see store.feed)
        self.feed = FeedStore(db)
        self.syncs = 0
        self._stack: AsyncExitStack | None = None
        self._wake = asyncio.Event()
        self._triggers: list[str] = []
        #: Fortnox records announced since the running sync started, and when
        self._fortnox_changes: dict[str, datetime] = {}
        #: those announced before it started: it reads them, so it settles them
        self._announced: dict[str, datetime] = {}
        self._stopping = False
        self._call_marks: dict[str, dict[str, int]] = {}
        self._paused_version: str | None = None
        self._next_full = 0.0
        self._company: int | None = None
        self._last_lag: dict[str, Any] | None = None
        #: the schedule: when the next cycle, full reconciliation and retry are due (on
        #: ``monotonic``), read from the store before the first sync
        self._scheduled = False
        self._next_cycle = 0.0
        self._retry_at = 0.0
        self._saved: Schedule | None = None
        #: stored times of those moments, by moment
        self._times: dict[float, datetime] = {}
        self.first_cycle_delay = first_cycle_delay
        self._polled: dict[str, str] = {}
        self.metrics.tenant_up.labels(tenant=self.name).set(0)

    # -- triggers ----------------------------------------------------------------------------

    def trigger(
        self,
        reason: str,
        *,
        fortnox_ids: tuple[str, ...] = (),
        at: datetime | None = None,
    ) -> None:
        """Ask for a sync soon (changes happened); collapses with other pending triggers.

        Args:
            reason: what happened, for logs and metrics (``"fortnox feed"``, ``"webcrm poll"``).
            fortnox_ids: the Fortnox records announced, to measure their propagation lag.
            at: when the change happened, as the announcement says.
        """
        self._triggers.append(reason)
        when = at or self.connector.clock.now()
        for record in fortnox_ids:
            self._fortnox_changes.setdefault(record, when)
        self._wake.set()

    async def _feed_announced(
        self, mode: Mode, trigger: str
    ) -> tuple[Announced | None, FeedSnapshot]:
        """The Fortnox records a sync may read instead of listing changes by ``lastmodified``
        (``None`` when it must list them), and the feed's state they come from.

        Only a sync started by a change (the scheduled cycle is the safety net and always lists)
        and only while the feed vouches for the tenant: it has carried the tenant without a gap
        since a sync that listed (see :class:`~webcrm_fortnox.store.feed.FeedStore`).
        """
        snapshot = await self.feed.snapshot(self.name)
        if mode is not Mode.INCREMENTAL or trigger == "cycle" or not snapshot.vouched:
            return None, snapshot
        return Announced.of(snapshot.announced), snapshot

    @property
    def idle(self) -> bool:
        """No sync runs and none is asked for."""
        return not self.lock.locked() and not self._wake.is_set()

    @property
    def company_id(self) -> int | None:
        """The Fortnox company this tenant follows (TenantId), when known."""
        return self.tenant.fortnox.tenant_id if self._company is None else self._company

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Sync until ``stopping`` is set; the sync in progress finishes its record first.

        The schedule (next cycle, next full reconciliation, failures and backoff, pause) is
        kept in the store after every change, and a worker that finds one there carries on
        from it: a restarted ``run`` does not sync every tenant at once. Without one, the
        first cycle comes after ``first_cycle_delay`` (the service spreads its tenants).

        An unexpected failure (a defect, the state store refusing a write) is logged when it
        happens and the tenant retried with the same backoff as a failing sync: never silently
        dead.
        """
        interval = float(self.tenant.sync_interval_seconds)
        poll = float(self.tenant.webcrm_poll_seconds)
        next_poll = self.monotonic() + poll
        stop_waiter = asyncio.ensure_future(stopping.wait())
        try:
            while not stopping.is_set():
                try:
                    if not self._scheduled:
                        await self._load_schedule()
                        await self._open_at_start()
                    now = self.monotonic()
                    if self.health in (RECONNECT, NOT_CONNECTED):
                        wake_at = now + self.settings.pause_check
                    else:
                        wake_at = max(min(self._next_cycle, next_poll), self._retry_at)
                    await self._save_schedule()
                    if not self._wake.is_set():
                        await self._sleep_until(wake_at, stop_waiter)
                    if stopping.is_set():
                        break
                    now = self.monotonic()
                    if self.health in (RECONNECT, NOT_CONNECTED):
                        if not await self._may_resume():
                            continue
                        self._next_cycle = now  # catch up at once
                    if now < self._retry_at:
                        continue  # backing off: triggers wait for the retry
                    if now >= next_poll:
                        next_poll = now + poll
                        await self._poll()
                    due = now >= self._next_cycle
                    if not due and not self._wake.is_set():
                        continue
                    if not due:
                        await asyncio.sleep(self.settings.debounce)  # let a burst of changes land
                    mode = Mode.INCREMENTAL
                    if self.monotonic() >= self._next_full:
                        mode = Mode.FULL
                    trigger = (
                        "cycle" if due else (self._triggers[0] if self._triggers else "trigger")
                    )
                    self._wake.clear()
                    self._triggers.clear()
                    ok = await self.sync(mode, trigger)
                    if due or mode is Mode.FULL:
                        self._next_cycle = self.monotonic() + interval
                    if ok:
                        self._retry_at = 0.0
                    elif self.health == FAILING:
                        self._retry_at = self._back_off()
                except Exception as error:
                    log.exception("tenant worker failed", extra={"tenant": self.name})
                    await self._fail(f"internal error: {type(error).__name__}: {error}")
                    self._retry_at = self._back_off()
        except StopRequested:
            pass
        finally:
            stop_waiter.cancel()
            await self.close()

    # -- the schedule in the store -------------------------------------------------------------

    def _monotonic_of(self, at: datetime | None, default: float) -> float:
        """A stored time on this worker's clock (``default`` when none is stored)."""
        if at is None:
            return default
        monotonic = self.monotonic() + (at - datetime.now(UTC)).total_seconds()
        self._times[monotonic] = at
        return monotonic

    def _time_of(self, monotonic: float) -> datetime:
        """A time on this worker's clock as a time to store, to the second; the same each
        time for the same moment (the two clocks drift apart by fractions of a second)."""
        at = self._times.get(monotonic)
        if at is None:
            at = datetime.now(UTC) + timedelta(seconds=monotonic - self.monotonic())
            at = self._times[monotonic] = at.replace(microsecond=0)
        return at

    async def _load_schedule(self) -> None:
        """Carry on from the stored schedule, or start one."""
        stored = await self.store.schedule(self.name) or Schedule()
        now = self.monotonic()
        self._next_cycle = self._monotonic_of(stored.next_cycle_at, now + self.first_cycle_delay)
        self._next_full = self._monotonic_of(stored.next_full_at, now + self.settings.full_every)
        self.failures = stored.failures
        self._retry_at = 0.0 if stored.retry_at is None else self._monotonic_of(stored.retry_at, 0)
        # The health the last sync left stands until the next one (``/healthz`` is not left
        # "starting" until a cycle that may be an interval away).
        health = await self.store.get(self.name, HEALTH) or {}
        if health.get("state") in (OK, FAILING):
            self.health, self.reason = health["state"], health.get("reason")
            self.metrics.tenant_up.labels(tenant=self.name).set(1 if self.health == OK else 0)
        # Only a tenant whose tokens ``connect`` renews can wait for new ones.
        if stored.paused in (RECONNECT, NOT_CONNECTED) and self.vault is not None:
            self.health, self.reason = stored.paused, stored.paused_reason
            self._paused_version = stored.paused_tokens
            log.info(
                "tenant still paused",
                extra={"tenant": self.name, "state": self.health, "reason": self.reason},
            )
        self._scheduled = True

    async def _open_at_start(self) -> None:
        """Open the clients before the first sync is due: the change feed subscribes with
        them, and its catch-up sync is what follows a restart between two cycles."""
        if self.health in (RECONNECT, NOT_CONNECTED):
            return
        try:
            await self.open()
        except (NotConnectedError, TokenKeyError) as error:
            await self._pause(NOT_CONNECTED, str(error))

    async def _save_schedule(self) -> None:
        """Store the schedule when it changed."""
        paused = self.health in (RECONNECT, NOT_CONNECTED)
        schedule = Schedule(
            next_cycle_at=self._time_of(self._next_cycle),
            next_full_at=self._time_of(self._next_full),
            failures=self.failures,
            retry_at=self._time_of(self._retry_at) if self._retry_at > self.monotonic() else None,
            paused=self.health if paused else None,
            paused_by="run" if paused else None,
            paused_reason=self.reason if paused else None,
            paused_tokens=self._paused_version if paused else None,
        )
        self._times = {
            moment: at
            for moment, at in self._times.items()
            if moment in (self._next_cycle, self._next_full, self._retry_at)
        }
        if schedule != self._saved:
            await self.store.save_schedule(self.name, schedule)
            self._saved = schedule

    def _back_off(self) -> float:
        """When a failing tenant is tried again: the wait doubles with each failure, capped."""
        delay: float = min(
            self.settings.max_backoff,
            self.settings.first_backoff * 2.0 ** max(0, self.failures - 1),
        )
        log.warning(
            "tenant sync failed; backing off",
            extra={"tenant": self.name, "retry_in": delay, "reason": self.reason},
        )
        return self.monotonic() + delay

    async def _fail(self, reason: str) -> None:
        """Count an unexpected failure and show it in the health (if the store takes it)."""
        self.failures += 1
        self.health, self.reason = FAILING, reason
        self.metrics.tenant_up.labels(tenant=self.name).set(0)
        # The clients may be what broke: open them afresh for the retry.
        with contextlib.suppress(Exception):
            await self.close()
        try:
            await self.store.put(self.name, "health", {"state": FAILING, "reason": reason})
        except Exception:
            log.exception("tenant health not stored", extra={"tenant": self.name})

    async def _sleep_until(self, wake_at: float, stop_waiter: asyncio.Future[Any]) -> None:
        delay = max(0.0, wake_at - self.monotonic())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({wake, stop_waiter}, timeout=delay, return_when="FIRST_COMPLETED")
        finally:
            wake.cancel()

    def request_stop(self) -> None:
        """Stop the running sync after the record in hand."""
        self._stopping = True

    # -- clients -----------------------------------------------------------------------------

    async def open(self) -> TenantClients:
        """The tenant's clients, opened once and kept between syncs.

        Raises:
            NotConnectedError, TokenKeyError: the tenant cannot be opened (it pauses).
        """
        if self.clients is not None:
            return self.clients
        stack = AsyncExitStack()
        try:
            clients = await stack.enter_async_context(
                self.connector.clients(self.tenant, vault=self.vault, handover=self.db)
            )
            if self.vault is not None and self.tenant.fortnox.auth == "authorization-code":
                grant = await self.vault.load(self.name)
                self._company = None if grant is None else grant.tenant_id
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self.clients = stack, clients
        self._fresh_clients = True
        self._call_marks = {"webcrm": {}, "fortnox": {}}
        self.ready.set()
        return clients

    async def close(self) -> None:
        """Close the clients (to reopen them with new credentials later)."""
        self.ready.clear()
        stack, self._stack, self.clients = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def count_calls(self) -> None:
        """Add what the clients spent since the last count to the metrics."""
        if self.clients is None:
            return
        for system, client in (("webcrm", self.clients.webcrm), ("fortnox", self.clients.fortnox)):
            now = dict(client.stats if isinstance(client.stats, dict) else client.stats.as_dict())
            before = self._call_marks.get(system, {})
            self.metrics.add_calls(
                self.name, system, {k: v - before.get(k, 0) for k, v in now.items()}
            )
            self._call_marks[system] = now

    # -- the cheap poll ----------------------------------------------------------------------

    async def _poll(self) -> None:
        """Ask webCRM whether anything changed after the cursors; trigger a sync if so."""
        try:
            clients = await self.open()
            rows = await webcrm_rows(self, clients)
            if changed_rows(self._polled, rows):
                self.trigger("webcrm poll")
            # Rows a sync has read lie behind the cursors it moved, so the next poll lists them
            # no more; those it lists again (the cursor's own second) are compared with these.
            self._polled = rows
        except (NotConnectedError, TokenKeyError) as error:
            await self._pause(NOT_CONNECTED, str(error))
            return
        except ApiError as error:
            log.info("webcrm poll failed", extra={"tenant": self.name, "error": str(error)})
        finally:
            self.count_calls()
        if self.settings.feed_down_poll and not self.feed_live:
            # Nothing announces Fortnox's changes: the sync reads them by lastmodified.
            self.trigger("fortnox poll")

    # -- one sync ----------------------------------------------------------------------------

    async def sync(self, mode: Mode, trigger: str) -> bool:
        """Run one sync of the tenant now (waiting for one in progress); true when it completed.

        Raises:
            StopRequested: the service is stopping; the record in hand was finished.
        """
        async with self.lock:
            try:
                clients = await self.open()
            except (NotConnectedError, TokenKeyError) as error:
                await self._pause(NOT_CONNECTED, str(error))
                return False
            if self._fresh_clients:
                # The first sync with these clients (opened at start or just now).
                self._fresh_clients = False
                await self._let_the_feed_join()
            if not await self.store.claim(self.name, self.owner, LEASE_SECONDS):
                log.info("tenant syncing in another process; skipped", extra={"tenant": self.name})
                return False
            renewing = asyncio.create_task(self._renew_lease())
            try:
                return await self._sync(clients, mode, trigger)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                await self.store.release(self.name, self.owner)

    async def _renew_lease(self) -> None:
        """Keep the lease while the sync runs (a process that dies lets it run out)."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self.store.claim(self.name, self.owner, LEASE_SECONDS)
            except Exception:
                log.exception("tenant lease not renewed", extra={"tenant": self.name})

    async def _sync(self, clients: TenantClients, mode: Mode, trigger: str) -> bool:
        """:meth:`sync`, holding the lock and the lease."""
        started = self.monotonic()
        # Every announcement so far is settled by this sync, written or not (an echo of the
        # service's own write has nothing to write): forget them once it completes, so that
        # neither they pile up nor a later change of the record is timed from them.
        self._announced, self._fortnox_changes = self._fortnox_changes, {}
        announced, feed = await self._feed_announced(mode, trigger)
        completed = False
        try:
            options = SyncOptions(
                mode=mode,
                trigger=trigger,
                progress=self._progress,
                now=clients.now,
                announced=announced,
                place=self.place,
            )
            run = await sync_tenant(
                self.tenant, self.state, clients.webcrm, clients.fortnox, options
            )
            completed = not run.stopped
            if completed:
                await self.feed.settle(self.name, feed, listed=announced is None)
        except StopRequested:
            self.count_calls()
            log.info("tenant sync stopped between records", extra={"tenant": self.name})
            raise
        finally:
            # An incomplete sync leaves its announcements to the next one (earliest kept).
            if not completed:
                self._fortnox_changes = {**self._fortnox_changes, **self._announced}
            self._announced = {}
        self.count_calls()
        self.syncs += 1
        return await self._account(run, mode, trigger, self.monotonic() - started)

    async def _let_the_feed_join(self) -> None:
        """Clients just opened: give the change feed serving the tenant a moment to subscribe
        it, so that this sync lists while subscribed and the feed vouches for the tenant from
        then on (no second listing to catch up)."""
        joined = self.feed_joined
        if joined is not None and not joined.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(joined.wait(), FEED_JOIN_WAIT)

    def _progress(self, done: int, total: int, outcome: RecordOutcome) -> None:
        self._observe(outcome)
        # After the last record the cursors are stored; before it, stop if asked.
        if self._stopping and done < total:
            raise StopRequested()

    def _observe(self, outcome: RecordOutcome) -> None:
        """Propagation lag of one outcome."""
        action = outcome.action
        if outcome.status is not RecordStatus.SYNCED or not action.writes:
            return
        # The announcements' times are Fortnox's; the clients' clock is the one that agrees.
        now = self.connector.clock.now()
        announced = self._announced.pop(outcome.fortnox_id or "", None)
        if announced is None:
            announced = self._fortnox_changes.pop(outcome.fortnox_id or "", None)
        targets = {change.system for change in action.changes}
        if announced is not None and "webcrm" in targets:
            self._lag("fortnox->webcrm", (now - announced).total_seconds())
        webcrm_record = action.records.get("webcrm")
        if webcrm_record is not None and webcrm_record.modified_at and "fortnox" in targets:
            self._lag("webcrm->fortnox", (now - webcrm_record.modified_at).total_seconds())

    def _lag(self, direction: str, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.metrics.lag.labels(tenant=self.name, direction=direction).observe(seconds)
        self._last_lag = {"seconds": round(seconds, 3), "direction": direction, "at": _iso()}

    async def _account(self, run: TenantRun, mode: Mode, trigger: str, seconds: float) -> bool:
        """Metrics and health after a sync (its cycle is recorded); true when it completed."""
        counts: dict[str, dict[str, int]] = {}
        for result in run.results:
            counts[result.entity] = result.counts
            for status, n in result.counts.items():
                self.metrics.records.labels(
                    tenant=self.name, entity=result.entity, status=status
                ).inc(n)
            conflicts = sum(len(o.action.conflicts) for o in result.outcomes)
            if conflicts:
                self.metrics.conflicts.labels(tenant=self.name, entity=result.entity).inc(conflicts)
        result_name = "stopped" if run.stopped else "completed"
        self.metrics.syncs.labels(tenant=self.name, trigger=trigger, result=result_name).inc()
        if self._last_lag is not None:
            await self.store.put(self.name, "lag", self._last_lag)
        if mode is Mode.FULL and not run.stopped:
            self._next_full = self.monotonic() + self.settings.full_every
        self.health, self.reason = health_after(run)
        if self.health == OK:
            self.failures = 0
            self.metrics.last_success.labels(tenant=self.name).set(time.time())
            self.metrics.tenant_up.labels(tenant=self.name).set(1)
        elif self.health == RECONNECT:
            await self._pause(RECONNECT, run.reason)
        else:
            self.failures += 1
            self.metrics.tenant_up.labels(tenant=self.name).set(0)
        log.info(
            "tenant synced" if not run.stopped else "tenant sync stopped",
            extra={
                "tenant": self.name,
                "mode": mode.value,
                "trigger": trigger,
                "counts": counts,
                "seconds": round(seconds, 3),
                "reason": run.reason,
            },
        )
        return not run.stopped

    # -- pause and resume --------------------------------------------------------------------

    async def _pause(self, health: str, reason: str | None) -> None:
        """Pause the tenant until ``connect`` stores new credentials."""
        self.health, self.reason = health, reason
        self.metrics.tenant_up.labels(tenant=self.name).set(0)
        self._paused_version = None if self.vault is None else await self.vault.version(self.name)
        await self.close()
        log.warning("tenant paused", extra={"tenant": self.name, "state": health, "reason": reason})
        await self.store.put(self.name, "health", {"state": health, "reason": reason})

    async def _may_resume(self) -> bool:
        """Whether a paused tenant has new credentials (``connect`` ran meanwhile)."""
        version = None if self.vault is None else await self.vault.version(self.name)
        if version is None or version == self._paused_version:
            self._wake.clear()
            return False
        log.info("tenant resumes with new credentials", extra={"tenant": self.name})
        self.health, self.reason = STARTING, None
        return True


def _iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: Rows one poll reads per table: those updated at or after the cursor, newest first.
POLL_ROWS = 20


async def webcrm_rows(worker: TenantWorker, clients: TenantClients) -> dict[str, str]:
    """The newest rows of each polled table from the tenant's cursors on, as ``table:id`` →
    ``UpdatedAt``: one ``/Queries`` call per table.

    webCRM's timestamps have whole seconds, so a record saved in the same second as the cursor
    is not "after" it: the poll reads from the cursor's second inclusive and compares the rows
    with those seen before the last sync instead. A table the system refuses to list (its
    lines, on a system that cannot) is left out from then on.
    """
    rows: dict[str, str] = {}
    for entity, table in WEBCRM_TABLES:
        kind = CHANGE_TRACKED[table]
        assert kind.table is not None
        if not clients.webcrm.lists(kind):
            continue
        since = None
        cursor = await worker.state.cursor("webcrm", entity)
        if cursor is not None:
            try:
                since = feed_start(cursor, kind.table)
            except ValueError:
                continue  # a cursor of another shape: left to the cycle
        try:
            newest = await clients.webcrm.newest(kind, since, size=POLL_ROWS)
        except ValidationError:
            if not kind.refusable:
                raise
            continue
        for row in newest:
            rows[f"{table}:{row.get(kind.id_field)}"] = str(row.get(kind.updated_field))
    return rows


def changed_rows(seen: dict[str, str], now: dict[str, str]) -> bool:
    """Whether ``now`` holds a row that is new or updated since ``seen``."""
    return any(seen.get(key) != updated for key, updated in now.items())
