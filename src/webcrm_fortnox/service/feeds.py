"""``webcrm-fortnox feed``: what changed in either system, turned into sync jobs for the workers.

Beside the ``worker`` processes (:mod:`webcrm_fortnox.service.jobs`), one or more ``feed``
processes follow the changes, per Fortnox integration (client id and feed address):

- **Fortnox's change feed**: one WebSocket for all the integration's companies, as Fortnox asks
  (the :class:`~webcrm_fortnox.service.feed.FeedListener` of ``run``). Per event, the
  announcement and the tenant's deferred sync job are committed in one transaction, and the
  event's offset is stored after: a killed feed process loses none, and its successor replays
  from the stored offsets (a repeat is harmless: the job collapses into the waiting one, and
  the announcement is the same row).
- **webCRM**: every ``webcrm_poll_seconds`` the cheap ``/Queries`` poll of ``run`` per tenant,
  in this process rather than as a job each (at 10,000 tenants that would be hundreds of jobs a
  second); a sync is deferred only when a row changed. While Fortnox's feed does not carry a
  tenant, the poll defers a sync anyway, which reads Fortnox's changes by ``lastmodified``.

**Exactly one leader per integration.** Each integration is led by the process that holds its
PostgreSQL advisory lock, taken on a connection of its own for as long as it leads; the other
``feed`` processes are standbys that try for it every :data:`STANDBY_POLL` seconds. A leader
killed, or cut off from PostgreSQL, loses the lock with its connection, and a standby takes
over. A leader looks at its lock's connection every :data:`LOCK_CHECK` seconds and stops
leading (and following) when it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import procrastinate
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.errors import ApiError
from webcrm_fortnox.service.connections import Connector, NotConnectedError, TenantClients
from webcrm_fortnox.service.feed import FeedListener
from webcrm_fortnox.service.health import Served
from webcrm_fortnox.service.job import JobContext, keep_clients
from webcrm_fortnox.service.jobs import (
    Tenants,
    conninfo,
    create_app,
    defer_syncs,
    health_server,
)
from webcrm_fortnox.service.metrics import ServiceMetrics
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.service.tenants import open_state
from webcrm_fortnox.service.vault import TokenKeyError
from webcrm_fortnox.service.worker import changed_rows, webcrm_rows
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore

if TYPE_CHECKING:
    from webcrm_fortnox.service.commands import Command

log = logging.getLogger(__name__)

#: Seconds between a standby's tries for an integration's lock.
STANDBY_POLL = 1.0
#: Seconds between a leader's looks at its lock's connection.
LOCK_CHECK = 2.0
#: Seconds between looks at the registry (tenants added, removed, changed).
ROSTER_POLL = 10.0
#: Seconds a tenant whose clients cannot be opened (not connected yet) waits to try again.
REOPEN_AFTER = 30.0

Integration = tuple[str, str, str]


def integration_of(tenant: TenantConfig) -> Integration:
    """A tenant's integration: its feed address, client id and secret."""
    fortnox = tenant.fortnox
    return fortnox.ws_url, fortnox.client_id, fortnox.client_secret.get_secret_value()


def leader_key(client_id: str, url: str) -> int:
    """The advisory-lock key of an integration's leadership (a signed 64-bit number)."""
    text = f"webcrm-fortnox feed {client_id} {url}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), signed=True)


class FollowedTenant:
    """One tenant as a leading ``feed`` process follows it: its clients (the subscription
    uses their tokens), its webCRM poll, and triggers turned into sync jobs.

    Satisfies :class:`~webcrm_fortnox.service.feed.FeedMember`.
    """

    def __init__(self, tenant: TenantConfig, ctx: JobContext, queue: JobQueue) -> None:
        self.tenant = tenant
        self.name = tenant.name
        self.state = ctx.db.tenant(tenant.name)
        self.ctx = ctx
        self.queue = queue
        self.ready = asyncio.Event()
        self.feed_live = False
        self.feed_joined: asyncio.Event | None = None
        self._stack: AsyncExitStack | None = None
        self._clients: TenantClients | None = None
        self._company: int | None = None
        self._polled: dict[str, str] = {}

    @property
    def clients(self) -> TenantClients | None:
        return self._clients

    @property
    def company_id(self) -> int | None:
        """The Fortnox company this tenant follows (TenantId), when known."""
        return self.tenant.fortnox.tenant_id if self._company is None else self._company

    def trigger(
        self, reason: str, *, fortnox_ids: tuple[str, ...] = (), at: datetime | None = None
    ) -> None:
        """A change to sync (the feed subscribed the tenant afresh): its job is deferred."""
        self.queue.soon(self.name, reason)

    async def open(self) -> TenantClients:
        """The tenant's clients, opened once and kept while following it.

        Raises:
            NotConnectedError, TokenKeyError: they cannot be opened (the workers pause it).
        """
        if self._clients is not None:
            return self._clients
        self._stack, clients, self._company = await keep_clients(self.ctx, self.tenant)
        self._clients = clients
        self.ready.set()
        return clients

    async def close(self) -> None:
        self.ready.clear()
        stack, self._stack, self._clients = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def follow(self, stopping: asyncio.Event) -> None:
        """Open the clients, then poll webCRM every ``webcrm_poll_seconds`` until stopped."""
        poll = float(self.tenant.webcrm_poll_seconds)
        try:
            while not stopping.is_set():
                delay = await self._poll()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay if delay else poll)
        finally:
            await self.close()

    async def _poll(self) -> float | None:
        """One poll (and the clients opened first); seconds to wait when they cannot be."""
        try:
            clients = await self.open()
            rows = await webcrm_rows(self.state, clients)
            if changed_rows(self._polled, rows):
                self.queue.soon(self.name, "webcrm poll")
            self._polled = rows
        except (NotConnectedError, TokenKeyError) as error:
            log.info(
                "tenant cannot be followed yet", extra={"tenant": self.name, "error": str(error)}
            )
            return REOPEN_AFTER
        except ApiError as error:
            log.info("webcrm poll failed", extra={"tenant": self.name, "error": str(error)})
        finally:
            self.ctx.clients.count_calls(self.name, self.ctx.metrics)
        if self.ctx.settings.feed_down_poll and not self.feed_live:
            # Nothing announces Fortnox's changes: the sync reads them by lastmodified.
            self.queue.soon(self.name, "fortnox poll")
        return None


class JobQueue:
    """Where the feed process's triggers become sync jobs: at once, in their own transaction
    (the feed's events defer theirs in the announcement's, see :meth:`defer_in`)."""

    def __init__(self, app: procrastinate.App, db: StateDatabase) -> None:
        self.app = app
        self.db = db
        self.deferred = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def soon(self, tenant: str, trigger: str) -> None:
        task = asyncio.create_task(self._defer(tenant, trigger))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _defer(self, tenant: str, trigger: str) -> None:
        try:
            async with self.db.begin() as conn:
                await self.defer_in(conn, tenant, trigger)
        except (SQLAlchemyError, OSError):
            # The next poll asks again; the cycle catches up in any case.
            log.exception("sync job not deferred", extra={"tenant": tenant, "trigger": trigger})

    async def defer_in(self, conn: AsyncConnection, tenant: str, trigger: str) -> None:
        """Defer the tenant's sync in ``conn``'s transaction."""
        self.deferred += await defer_syncs(self.app, conn, [tenant], trigger)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks))


@dataclass(frozen=True)
class FeedOptions:
    """How ``webcrm-fortnox feed`` runs.

    Attributes:
        metrics_host: where ``/metrics`` and ``/healthz`` listen.
        metrics_port: their port (``None``: no server).
        no_fortnox_feed: poll only (Fortnox's changes read by ``lastmodified`` every poll).
    """

    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9466
    no_fortnox_feed: bool = False


class FeedProcess:
    """Leads (or stands by for) each integration of the tenants, following it while leading.

    Args:
        db: the state database.
        app: the Procrastinate app (jobs are deferred through it).
        ctx: the job body's context (its client cache holds the tenants' clients).
        tenants: the tenants, kept in step with the registry.
        options: how to run.
    """

    def __init__(
        self,
        db: StateDatabase,
        app: procrastinate.App,
        ctx: JobContext,
        tenants: Tenants,
        options: FeedOptions,
    ) -> None:
        self.db = db
        self.ctx = ctx
        self.tenants = tenants
        self.options = options
        self.queue = JobQueue(app, db)
        self.store = ServiceStore(db)
        self.metrics: ServiceMetrics = ctx.metrics
        self.stopping = asyncio.Event()
        #: the integrations this process leads now, by client id, with their listener
        self.leading: dict[str, FeedListener | None] = {}
        self._members: dict[Integration, dict[str, TenantConfig]] = {}
        self._changed: dict[Integration, asyncio.Event] = {}
        self._tasks: dict[Integration, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Follow the tenants until :attr:`stopping` is set."""
        try:
            while not self.stopping.is_set():
                try:
                    self._regroup(await self.tenants.current())
                except (SQLAlchemyError, OSError):
                    log.exception("the tenant registry could not be read; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), ROSTER_POLL)
        finally:
            self.stopping.set()
            if self._tasks:
                await asyncio.wait(set(self._tasks.values()))
            await self.queue.drain()

    def _regroup(self, tenants: Mapping[str, TenantConfig]) -> None:
        """Start leading new integrations; tell the others their tenants changed."""
        groups: dict[Integration, dict[str, TenantConfig]] = {}
        for tenant in tenants.values():
            groups.setdefault(integration_of(tenant), {})[tenant.name] = tenant
        for integration, members in groups.items():
            if self._members.get(integration) != members:
                self._members[integration] = members
                self._changed.setdefault(integration, asyncio.Event()).set()
            if integration not in self._tasks:
                self._tasks[integration] = asyncio.create_task(self._integration(integration))
        for integration in set(self._members) - set(groups):
            self._members[integration] = {}
            self._changed[integration].set()

    async def _integration(self, integration: Integration) -> None:
        """Lead ``integration`` whenever this process can, until stopped."""
        url, client_id, _ = integration
        key = leader_key(client_id, url)
        while not self.stopping.is_set():
            try:
                async with self.db.engine.connect() as lock:
                    if await self._take(lock, key):
                        await self._lead(integration, lock)
            except (SQLAlchemyError, OSError):
                log.warning(
                    "change feed leadership lost with the state store; trying again",
                    extra={"client_id": client_id},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), STANDBY_POLL)

    async def _take(self, lock: AsyncConnection, key: int) -> bool:
        """Wait on ``lock``'s connection until it holds the advisory lock ``key`` (true) or
        the process stops (false)."""
        while not self.stopping.is_set():
            taken = await lock.scalar(sa.select(sa.func.pg_try_advisory_lock(key)))
            await lock.commit()  # the lock is the session's: no transaction stays open
            if taken:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), STANDBY_POLL)
        return False

    async def _lead(self, integration: Integration, lock: AsyncConnection) -> None:
        """Follow the integration's tenants while ``lock``'s connection lives."""
        url, client_id, secret = integration
        log.info("change feed leader", extra={"client_id": client_id})
        members: dict[str, FollowedTenant] = {}
        stops: dict[str, asyncio.Event] = {}
        polls: dict[str, asyncio.Task[None]] = {}
        listener = None
        listening: asyncio.Task[None] | None = None
        feed_stop = asyncio.Event()
        if not self.options.no_fortnox_feed:
            listener = FeedListener(
                url, client_id, secret, [], self.store, self.metrics, defer=self.queue.defer_in
            )
            listening = asyncio.create_task(listener.run(feed_stop))
        self.leading[client_id] = listener
        changed = self._changed.setdefault(integration, asyncio.Event())
        changed.set()
        try:
            while not self.stopping.is_set():
                if changed.is_set():
                    changed.clear()
                    self._follow(
                        self._members.get(integration, {}), members, stops, polls, listener
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), LOCK_CHECK)
                await lock.scalar(sa.select(sa.literal(1)))  # raises when the connection is gone
                await lock.commit()
                if listening is not None and listening.done():
                    listening.result()
        finally:
            del self.leading[client_id]
            feed_stop.set()
            for stop in stops.values():
                stop.set()
            pending = [*polls.values(), *([listening] if listening else [])]
            if pending:
                await asyncio.wait(pending)

    def _follow(
        self,
        wanted: Mapping[str, TenantConfig],
        members: dict[str, FollowedTenant],
        stops: dict[str, asyncio.Event],
        polls: dict[str, asyncio.Task[None]],
        listener: FeedListener | None,
    ) -> None:
        """Follow the tenants ``wanted`` (anew those whose settings changed), no others."""
        for name in list(members):
            if wanted.get(name) != members[name].tenant:
                if listener is not None:
                    listener.remove(members[name])
                stops.pop(name).set()
                polls.pop(name)
                del members[name]
        for name, tenant in wanted.items():
            if name in members:
                continue
            member = members[name] = FollowedTenant(tenant, self.ctx, self.queue)
            stops[name] = asyncio.Event()
            polls[name] = asyncio.create_task(member.follow(stops[name]))
            if listener is not None:
                listener.add(member)

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` answers: which integrations this process leads."""
        feeds = {
            client_id: {"live": bool(listener and listener.live)}
            for client_id, listener in self.leading.items()
        }
        return {
            "status": "stopping" if self.stopping.is_set() else "ok",
            "leading": feeds,
            "deferred": self.queue.deferred,
        }

    def hook_called(self, tenant: str, secret: str) -> bool:
        """webCRM hooks are not registered by this process (yet): it polls."""
        return False


async def serve_feed(
    url: str,
    db: StateDatabase,
    tenants: Iterable[TenantConfig],
    connector: Connector,
    options: FeedOptions,
) -> int:
    """Follow the changes of every tenant until SIGTERM or SIGINT; 0 after a clean stop."""
    fixed = list(tenants)
    app = create_app(url, "feed")
    # Every followed tenant keeps its clients open: the subscription holds their tokens.
    ctx = JobContext(db, connector, tenants=fixed, actor="feed", clients=1_000_000)
    async with app.open_async(), ctx:
        process = FeedProcess(db, app, ctx, Tenants(fixed, Registry(db, connector.keys)), options)
        served: Served = process
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, process.stopping.set)
        try:
            async with health_server(served, options.metrics_host, options.metrics_port):
                await process.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
    return 0


async def feed_command(command: Command, options: FeedOptions) -> int:
    """``feed``: the configuration file's tenants and the registry's.

    Raises:
        JobQueueError: the state store is not on PostgreSQL.
    """
    url = command.config.state.url
    conninfo(url)
    in_file = {t.name for t in command.config.tenant}
    fixed = [t for t in command.tenants if t.name in in_file]
    async with open_state(url) as db:
        return await serve_feed(url, db, fixed, command.connector, options)
