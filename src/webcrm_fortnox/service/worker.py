"""One tenant inside ``run``: when to sync, the change feed's join, the cheap poll, the debounce.

A :class:`TenantWorker` keeps the tenant's clients open between syncs (in its process's
:class:`~webcrm_fortnox.service.job.JobContext`) and wakes up for

- the full cycle, every ``sync_interval_seconds`` (a full reconciliation every ``full_every``);
- triggers: Fortnox change-feed events, webCRM hooks, and its own cheap ``/Queries`` poll every
  ``webcrm_poll_seconds`` (while Fortnox's feed is down, the poll also runs a sync, which reads
  Fortnox's changes by ``lastmodified``).

A triggered sync is the engine's incremental run from the stored cursors: it reads only the
records changed since the last sync (on both sides) and nothing else. Triggers that arrive
close together, or while a sync runs, collapse into one more sync: that is the per-record
debounce. Each sync is one :func:`~webcrm_fortnox.service.job.sync_tenant_job`, which takes the
tenant's lease, records the cycle and health, and stores the schedule this worker follows:
when the next cycle and full reconciliation are due, failures and their backoff, the pause.

A failing tenant waits longer after each failure (capped), without holding anyone else up. A
revoked or expired Fortnox grant pauses the tenant, cursors untouched, until ``connect`` stores
new tokens; the next sync then catches up on everything changed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.engine.adapters.webcrm_feed import feed_start
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.errors import ApiError, ValidationError
from webcrm_fortnox.service.connections import NotConnectedError, TenantClients
from webcrm_fortnox.service.job import (
    CYCLE,
    NOT_CONNECTED,
    JobContext,
    JobOutcome,
    JobResult,
    backoff,
    due_at,
    first_schedule,
    keep_clients,
    sync_tenant_job,
)
from webcrm_fortnox.service.requests import carry_out_pending
from webcrm_fortnox.service.runner import FAILING, OK, RECONNECT
from webcrm_fortnox.service.vault import TokenKeyError
from webcrm_fortnox.store.service import Schedule
from webcrm_fortnox.store.state import HEALTH, TenantState
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

#: Tenant health as ``/healthz`` shows it before the worker knows better.
STARTING = "starting"


class TenantWorker:
    """Runs one tenant's syncs for the service.

    Args:
        tenant: its configuration.
        ctx: the process's job context (state store, connector, metrics, timing, clients).
        first_cycle_delay: seconds from start to the first cycle, when the store has no
            schedule of the tenant yet (so that many tenants do not cycle in step).
    """

    def __init__(
        self, tenant: TenantConfig, ctx: JobContext, *, first_cycle_delay: float = 0.0
    ) -> None:
        self.tenant = tenant
        self.name = tenant.name
        self.ctx = ctx
        self.db = ctx.db
        self.state = ctx.db.tenant(tenant.name)
        #: names this process in the admin requests it claims for the tenant
        self.owner = ctx.process
        self.place = ctx.places.get(tenant.name)
        self.store = ctx.store
        #: what the feed vouched for and announced (kept in the store, see store.feed)
        self.feed = ctx.feed
        self.metrics = ctx.metrics
        self.settings = ctx.settings
        #: one sync of this tenant at a time (the demo also holds it to make edits atomically)
        self.lock = asyncio.Lock()
        self.health = STARTING
        self.reason: str | None = None
        self.failures = 0
        #: set once clients are open (the change feed subscribes with their tokens)
        self.ready = asyncio.Event()
        #: whether this process's change feed carries the tenant now (else Fortnox is polled)
        self.feed_live = False
        #: set while a change feed serving the tenant carries it (``None``: none serves it)
        self.feed_joined: asyncio.Event | None = None
        self.syncs = 0
        self.first_cycle_delay = first_cycle_delay
        #: the schedule as last read or stored (``None``: not read yet)
        self._saved: Schedule | None = None
        #: this worker's own hold on its clients, and whether a sync has used them yet
        self._stack: AsyncExitStack | None = None
        self._clients: TenantClients | None = None
        self._fresh_clients = False
        self._company: int | None = None
        self._wake = asyncio.Event()
        self._triggers: list[str] = []
        #: Fortnox records announced since the running sync started, and when
        self._fortnox_changes: dict[str, datetime] = {}
        #: those announced before it started: it reads them, so it settles them
        self._announced: dict[str, datetime] = {}
        self._stopping = False
        #: no sync starts before this (on ``time.monotonic``): another process held the
        #: tenant, or this worker itself failed
        self._not_before = 0.0
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
        when = at or self.ctx.connector.clock.now()
        for record in fortnox_ids:
            self._fortnox_changes.setdefault(record, when)
        self._wake.set()

    @property
    def idle(self) -> bool:
        """No sync runs and none is asked for."""
        return not self.lock.locked() and not self._wake.is_set()

    @property
    def paused(self) -> bool:
        """Waiting for new credentials."""
        return self.health in (RECONNECT, NOT_CONNECTED)

    @property
    def company_id(self) -> int | None:
        """The Fortnox company this tenant follows (TenantId), when known."""
        return self.tenant.fortnox.tenant_id if self._company is None else self._company

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Sync until ``stopping`` is set; the sync in progress finishes its record first.

        The schedule (next cycle, next full reconciliation, failures and backoff, pause) is
        the store's: each sync stores the next one, and a worker that finds one there carries
        on from it, so a restarted ``run`` does not sync every tenant at once. Without one,
        the first cycle comes after ``first_cycle_delay`` (the service spreads its tenants).

        An unexpected failure (a defect, the state store refusing a write) is logged when it
        happens and the tenant retried with the same backoff as a failing sync: never silently
        dead.
        """
        poll = float(self.tenant.webcrm_poll_seconds)
        next_poll = time.monotonic() + poll
        stop_waiter = asyncio.ensure_future(stopping.wait())
        try:
            while not stopping.is_set():
                try:
                    if time.monotonic() < self._not_before:
                        await self._sleep_until(self._not_before, stop_waiter, woken=False)
                        continue
                    if self._saved is None:
                        await self._start()
                    if not self._wake.is_set():
                        await self._sleep_until(self._wake_at(next_poll), stop_waiter)
                    if stopping.is_set():
                        break
                    await carry_out_pending(self)  # what operators asked (admin requests)
                    if self.paused:
                        # Asks the store whether new credentials came; a cycle at once if so.
                        self._wake.clear()
                        await self.sync(None, CYCLE)
                        continue
                    if self._backing_off():
                        continue  # triggers wait for the retry
                    if time.monotonic() >= next_poll:
                        next_poll = time.monotonic() + poll
                        await self._poll()
                    due = self._due()
                    if not due and not self._wake.is_set():
                        continue
                    if not due:
                        await asyncio.sleep(self.settings.debounce)  # let a burst of changes land
                    trigger = CYCLE if due else (self._triggers or ["trigger"])[0]
                    self._wake.clear()
                    self._triggers.clear()
                    cycle_of = self._saved.next_cycle_at if due and self._saved else None
                    outcome = await self.sync(None, trigger, cycle_of=cycle_of)
                    if outcome.result is JobResult.STOPPED:
                        break
                except Exception as error:
                    log.exception("tenant worker failed", extra={"tenant": self.name})
                    await self._fail(f"internal error: {type(error).__name__}: {error}")
        finally:
            stop_waiter.cancel()
            await self.close()

    def _seconds_until(self, at: datetime | None) -> float:
        return 0.0 if at is None else (at - self.ctx.now()).total_seconds()

    def _wake_at(self, next_poll: float) -> float:
        """When to look again (on ``time.monotonic``)."""
        now = time.monotonic()
        if self.paused:
            return now + self.settings.pause_check
        assert self._saved is not None
        cycle = now + self._seconds_until(due_at(self._saved))
        retry = now + self._seconds_until(self._saved.retry_at)
        return max(min(cycle, next_poll), retry)

    def _due(self) -> bool:
        assert self._saved is not None
        return self._seconds_until(due_at(self._saved)) <= 0

    def _backing_off(self) -> bool:
        assert self._saved is not None
        return self._saved.retry_at is not None and self._seconds_until(self._saved.retry_at) > 0

    async def _start(self) -> None:
        """Carry on from the stored schedule (storing the first one), and open the clients
        before the first sync is due: the change feed subscribes with them, and its catch-up
        sync is what follows a restart between two cycles."""
        stored = await self.store.schedule(self.name)
        schedule = first_schedule(
            stored or Schedule(), self.ctx.now(), self.first_cycle_delay, self.settings
        )
        if schedule != stored:
            await self.store.save_schedule(self.name, schedule)
        self._saved, self.failures = schedule, schedule.failures
        # The health the last sync left stands until the next one (``/healthz`` is not left
        # "starting" until a cycle that may be an interval away).
        health = await self.store.get(self.name, HEALTH) or {}
        if health.get("state") in (OK, FAILING):
            self.health, self.reason = health["state"], health.get("reason")
            self.metrics.tenant_up.labels(tenant=self.name).set(1 if self.health == OK else 0)
        if schedule.paused is not None:
            self.health, self.reason = schedule.paused, schedule.paused_reason
            log.info(
                "tenant still paused",
                extra={"tenant": self.name, "state": self.health, "reason": self.reason},
            )
            return
        try:
            await self.open()
        except (NotConnectedError, TokenKeyError):
            await self.sync(None, CYCLE)  # the job records the pause

    async def _fail(self, reason: str) -> None:
        """Count an unexpected failure of the worker itself, show it in the health (if the
        store takes it) and wait the backoff."""
        self.failures += 1
        self.health, self.reason = FAILING, reason
        self.metrics.tenant_up.labels(tenant=self.name).set(0)
        # The clients may be what broke: open them afresh for the retry.
        with contextlib.suppress(Exception):
            await self.close()
        delay = backoff(self.failures, self.settings)
        self._not_before = time.monotonic() + delay
        log.warning(
            "tenant sync failed; backing off",
            extra={"tenant": self.name, "retry_in": delay, "reason": reason},
        )
        try:
            await self.store.put(self.name, HEALTH, {"state": FAILING, "reason": reason})
        except Exception:
            log.exception("tenant health not stored", extra={"tenant": self.name})

    async def _sleep_until(
        self, wake_at: float, stop_waiter: asyncio.Future[Any], *, woken: bool = True
    ) -> None:
        """Until ``wake_at`` (on ``time.monotonic``), a stop, or (``woken``) a trigger."""
        delay = max(0.0, wake_at - time.monotonic())
        wake = asyncio.ensure_future(self._wake.wait())
        waits = {wake, stop_waiter} if woken else {stop_waiter}
        try:
            await asyncio.wait(waits, timeout=delay, return_when="FIRST_COMPLETED")
        finally:
            wake.cancel()

    def request_stop(self) -> None:
        """Stop the running sync after the record in hand."""
        self._stopping = True

    # -- clients -----------------------------------------------------------------------------

    @property
    def clients(self) -> TenantClients | None:
        """The tenant's clients while this worker holds them open."""
        return self._clients

    async def open(self) -> TenantClients:
        """The tenant's clients, opened once and kept between syncs.

        Raises:
            NotConnectedError, TokenKeyError: the tenant cannot be opened (it pauses).
        """
        if self._clients is not None:
            return self._clients
        self._stack, clients, self._company = await keep_clients(self.ctx, self.tenant)
        self._clients = clients
        self._fresh_clients = True
        self.ready.set()
        return clients

    async def close(self) -> None:
        """Close the clients (to reopen them with new credentials later)."""
        self.ready.clear()
        stack, self._stack, self._clients = self._stack, None, None
        if stack is not None:
            await stack.aclose()
            await self.ctx.clients.discard(self.name)

    # -- the cheap poll ----------------------------------------------------------------------

    async def _poll(self) -> None:
        """Ask webCRM whether anything changed after the cursors; trigger a sync if so."""
        try:
            clients = await self.open()
            rows = await webcrm_rows(self.state, clients)
            if changed_rows(self._polled, rows):
                self.trigger("webcrm poll")
            # Rows a sync has read lie behind the cursors it moved, so the next poll lists them
            # no more; those it lists again (the cursor's own second) are compared with these.
            self._polled = rows
        except (NotConnectedError, TokenKeyError):
            await self.sync(None, CYCLE)  # the job records the pause
            return
        except ApiError as error:
            log.info("webcrm poll failed", extra={"tenant": self.name, "error": str(error)})
        finally:
            self.ctx.clients.count_calls(self.name, self.metrics)
        if self.settings.feed_down_poll and not self.feed_live:
            # Nothing announces Fortnox's changes: the sync reads them by lastmodified.
            self.trigger("fortnox poll")

    # -- one sync ----------------------------------------------------------------------------

    async def sync(
        self, mode: Mode | None, trigger: str, *, cycle_of: datetime | None = None
    ) -> JobOutcome:
        """Run one sync of the tenant now (waiting for one in progress): one job.

        Args:
            mode: the sync's mode (default: as the schedule says).
            trigger: what asks for it (see :func:`sync_tenant_job`).
            cycle_of: for a scheduled cycle, the due time it is for (see there).
        """
        async with self.lock:
            if not self.paused:
                with contextlib.suppress(NotConnectedError, TokenKeyError):
                    await self.open()  # else the job finds the same, and records the pause
            if self._fresh_clients:
                # The first sync with these clients (opened at start or just now).
                self._fresh_clients = False
                await self._let_the_feed_join()
            # Every announcement so far is settled by this sync, written or not (an echo of
            # the service's own write has nothing to write): forget them once it completes,
            # so that neither they pile up nor a later change of the record is timed from them.
            self._announced, self._fortnox_changes = self._fortnox_changes, {}
            outcome: JobOutcome | None = None
            try:
                outcome = await sync_tenant_job(
                    self.ctx,
                    self.name,
                    trigger,
                    mode=mode,
                    stop=lambda: self._stopping,
                    announced_at=self._announced_at,
                    cycle_of=cycle_of,
                )
            finally:
                # An incomplete sync leaves its announcements to the next one (earliest kept).
                if outcome is None or not outcome.completed:
                    self._fortnox_changes = {**self._fortnox_changes, **self._announced}
                self._announced = {}
            await self._after(outcome)
            return outcome

    def _announced_at(self, fortnox_id: str) -> datetime | None:
        """When the record was announced, if it was (each announcement is timed once)."""
        announced = self._announced.pop(fortnox_id, None)
        if announced is None:
            announced = self._fortnox_changes.pop(fortnox_id, None)
        return announced

    async def _after(self, outcome: JobOutcome) -> None:
        """Follow what the job found and stored."""
        if outcome.schedule is not None:
            self._saved, self.failures = outcome.schedule, outcome.schedule.failures
        if outcome.run is not None:
            self.syncs += 1
        if outcome.health is not None:
            self.health, self.reason = outcome.health, outcome.reason
        if outcome.result in (JobResult.PAUSED, JobResult.ERROR):
            await self.close()
        elif outcome.result is JobResult.SYNCED and self._clients is None:
            # Resumed by new credentials: the change feed subscribes with the clients.
            with contextlib.suppress(NotConnectedError, TokenKeyError):
                await self.open()
        elif outcome.result is JobResult.BUSY:
            # Another process syncs the tenant: look again after a while (its schedule then).
            self._not_before = time.monotonic() + self.settings.pause_check
            if outcome.trigger != CYCLE:
                self.trigger(outcome.trigger)
            self._saved = await self.store.schedule(self.name) or self._saved

    async def _let_the_feed_join(self) -> None:
        """Clients just opened: give the change feed serving the tenant a moment to subscribe
        it, so that this sync lists while subscribed and the feed vouches for the tenant from
        then on (no second listing to catch up)."""
        joined = self.feed_joined
        if joined is not None and not joined.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(joined.wait(), FEED_JOIN_WAIT)


#: Rows one poll reads per table: those updated at or after the cursor, newest first.
POLL_ROWS = 20


async def webcrm_rows(state: TenantState, clients: TenantClients) -> dict[str, str]:
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
        cursor = await state.cursor("webcrm", entity)
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
