"""``webcrm-fortnox run``: every tenant of the configuration, until stopped.

:class:`SyncService` starts one :class:`~webcrm_fortnox.service.worker.TenantWorker` per tenant,
one :class:`~webcrm_fortnox.service.feed.FeedListener` per Fortnox integration (client id and
feed address), the ``/metrics`` and ``/healthz`` server, and, when a public callback address is
given, webCRM hooks that wake a tenant as soon as webCRM saves a record.

Besides the configuration file's tenants it runs the registry's active ones, and looks at the
registry every ``registry_poll`` seconds (:class:`~webcrm_fortnox.service.roster.Roster`): a
tenant registered or resumed meanwhile starts, one paused or removed stops as the service does
(after the record in hand), one whose settings changed restarts with them.

Stopping (SIGTERM, Ctrl-C, or :meth:`SyncService.stop`): no new sync starts; a running sync
stops after the record in hand (one still reading stops before its first write); after
:data:`STOP_GRACE` seconds what is left is cancelled. Every record's outcome is committed as
it happens, and cursors only move after a complete run, so nothing is lost and the next start
carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.service.connections import Connector
from webcrm_fortnox.service.feed import FeedListener
from webcrm_fortnox.service.health import health_app
from webcrm_fortnox.service.http_server import serving
from webcrm_fortnox.service.job import JobContext, WorkerSettings
from webcrm_fortnox.service.logs import redact_everywhere
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.service.roster import DEFAULT_REGISTRY_POLL, Roster
from webcrm_fortnox.service.runner import TenantPlace
from webcrm_fortnox.service.worker import TenantWorker
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.transport.errors import ApiError
from webcrm_fortnox.webcrm.client import HookEntity
from webcrm_fortnox.webcrm.models import Hook

log = logging.getLogger(__name__)

#: How long a stopping service waits for syncs to finish their record before cancelling them.
STOP_GRACE = 60.0
#: How long a stopping service waits for its change feeds to close before cancelling them.
FEED_STOP_GRACE = 10.0
#: A line saved alone need not touch its delivery (see engine.adapters.documents), so lines
#: have hooks of their own.
HOOK_ENTITIES: tuple[HookEntity, ...] = ("Organisations", "Deliveries", "QuotationLines")


@dataclass(frozen=True)
class ServiceOptions:
    """How ``run`` runs.

    Attributes:
        worker: timing shared by all tenants.
        metrics_host: where ``/metrics`` and ``/healthz`` listen.
        metrics_port: their port (``None``: no server).
        callback_url: the public address of that server, for webCRM hooks (``None``: none).
        feed: whether to follow Fortnox's change feed.
        places: by tenant name, where its settings are written (named in its messages).
        registry_poll: seconds between looks at the tenant registry (``None``: run only the
            tenants given).
        only_tenant: of the registry's tenants, run this one alone (``run --tenant NAME``).
    """

    worker: WorkerSettings = field(default_factory=WorkerSettings)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9464
    callback_url: str | None = None
    feed: bool = True
    places: Mapping[str, TenantPlace] = field(default_factory=dict)
    registry_poll: float | None = DEFAULT_REGISTRY_POLL
    only_tenant: str | None = None


class SyncService:
    """The running service for a set of tenants.

    Args:
        tenants: the tenants to run whatever the registry says (the configuration file's).
        db: the state database (open).
        connector: opens tenants' clients.
        options: how to run.
    """

    def __init__(
        self,
        tenants: Sequence[TenantConfig],
        db: StateDatabase,
        connector: Connector,
        options: ServiceOptions | None = None,
    ) -> None:
        self.options = options or ServiceOptions()
        self.db = db
        self.store = ServiceStore(db)
        self.connector = connector
        #: what every tenant's syncs share (the store, the clients, the metrics)
        self.jobs = JobContext(
            db,
            connector,
            settings=self.options.worker,
            tenants=tenants,
            places=self.options.places,
        )
        self.metrics = self.jobs.metrics
        # Tenants the store has no schedule of yet start spread over their interval.
        self.workers = {
            t.name: self._worker(t, first_cycle_delay=t.sync_interval_seconds * n / len(tenants))
            for n, t in enumerate(tenants)
        }
        self.feeds = self._feeds() if self.options.feed else []
        self.stopping = asyncio.Event()
        self.url: str | None = None
        self.started = asyncio.Event()
        self._hook_secrets: dict[str, str] = {}
        self.roster = Roster(
            Registry(db, connector.keys), fixed=self.workers, only=self.options.only_tenant
        )
        #: each worker's own stop signal, so that one tenant can stop while the others run
        self._stops: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: the feeds' tasks, and those registering hooks of tenants started while running
        self._feed_tasks: list[asyncio.Task[None]] = []
        self._background: list[asyncio.Task[None]] = []

    def _worker(self, tenant: TenantConfig, *, first_cycle_delay: float = 0.0) -> TenantWorker:
        return TenantWorker(tenant, self.jobs, first_cycle_delay=first_cycle_delay)

    @staticmethod
    def _integration(worker: TenantWorker) -> tuple[str, str, str]:
        fortnox = worker.tenant.fortnox
        return fortnox.ws_url, fortnox.client_id, fortnox.client_secret.get_secret_value()

    def _feeds(self) -> list[FeedListener]:
        groups: dict[tuple[str, str, str], list[TenantWorker]] = {}
        for worker in self.workers.values():
            groups.setdefault(self._integration(worker), []).append(worker)
        return [
            FeedListener(url, client_id, secret, members, self.store, self.metrics)
            for (url, client_id, secret), members in groups.items()
        ]

    def _feed_of(self, worker: TenantWorker) -> FeedListener | None:
        url, client_id, _ = self._integration(worker)
        for feed in self.feeds:
            # One integration's feed: the same address and client id (and so the same secret).
            if (feed.url, feed.client_id) == (url, client_id):
                return feed
        return None

    def stop(self) -> None:
        """Ask the service to stop (safe to call from a signal handler)."""
        self.stopping.set()

    @contextlib.asynccontextmanager
    async def _server(self) -> AsyncIterator[None]:
        port = self.options.metrics_port
        if port is None:
            yield
            return
        async with serving(health_app(self), self.options.metrics_host, port) as url:
            self.url = url
            log.info("metrics and health served", extra={"url": url})
            yield

    async def run(self) -> int:
        """Run until :meth:`stop`; returns the exit status (0)."""
        async with self._server():
            for worker in self.workers.values():
                self._start(worker)
            self._feed_tasks = [asyncio.create_task(feed.run(self.stopping)) for feed in self.feeds]
            hooks = asyncio.create_task(self._register_hooks(list(self.workers.values())))
            registry = asyncio.create_task(self._follow_registry())
            self.started.set()
            log.info("service started", extra={"tenants": sorted(self.workers)})
            await self.stopping.wait()
            log.info("service stopping")
            hooks.cancel()
            await registry  # it ends after the changes in hand, so none is left half done
            await self._drain(list(self.workers))
            if self._feed_tasks:
                # The feeds end on their own once stopping, recording the connection as lost.
                await asyncio.wait(self._feed_tasks, timeout=FEED_STOP_GRACE)
            for task in [*self._feed_tasks, *self._background]:
                task.cancel()  # a feed still closing after the grace; hooks being registered
            for task in [*self._feed_tasks, *self._background, hooks]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.jobs.close()
        log.info("service stopped")
        return 0

    def _start(self, worker: TenantWorker) -> None:
        stop = self._stops[worker.name] = asyncio.Event()
        self._tasks[worker.name] = asyncio.create_task(
            worker.run(stop), name=f"tenant {worker.name}"
        )

    async def _drain(self, names: list[str]) -> None:
        """Let these tenants' syncs stop after the record in hand; cancel what is left after a
        grace."""
        tasks = {self._tasks.pop(name): self.workers[name] for name in names}
        if not tasks:
            return  # a service of registered tenants may have none left to stop
        for worker in tasks.values():
            self._stops.pop(worker.name).set()
            worker.request_stop()
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in pending:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception:
                    log.exception("tenant worker failed", extra={"tenant": tasks[task].name})

    # -- the registry ------------------------------------------------------------------------

    async def _follow_registry(self) -> None:
        """Start and stop registered tenants as the registry changes, until stopped."""
        poll = self.options.registry_poll
        if poll is None:
            return
        first = True
        while not self.stopping.is_set():
            try:
                changes = await self.roster.changes()
            except Exception:
                # The store may be briefly unreachable; the tenants running keep running.
                log.exception("the tenant registry could not be read; trying again")
            else:
                for name in changes.stop:
                    await self.remove_tenant(name)
                for n, tenant in enumerate(changes.start):
                    if not self.stopping.is_set():
                        # Those registered when the service starts are spread over their
                        # interval, like the file's; one registered later starts at once.
                        spread = n / len(changes.start) if first else 0.0
                        self.add_tenant(
                            tenant, first_cycle_delay=tenant.sync_interval_seconds * spread
                        )
                first = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), poll)

    def add_tenant(self, tenant: TenantConfig, *, first_cycle_delay: float = 0.0) -> None:
        """Start running ``tenant`` (and follow its company on its integration's feed), its
        first cycle after ``first_cycle_delay`` seconds unless the store holds its schedule."""
        redact_everywhere(
            tenant.webcrm.api_token.get_secret_value(),
            tenant.fortnox.client_secret.get_secret_value(),
        )
        worker = self.workers[tenant.name] = self._worker(
            tenant, first_cycle_delay=first_cycle_delay
        )
        self._start(worker)
        if self.options.feed:
            feed = self._feed_of(worker)
            if feed is not None:
                feed.add(worker)
            else:
                url, client_id, secret = self._integration(worker)
                feed = FeedListener(url, client_id, secret, [worker], self.store, self.metrics)
                self.feeds.append(feed)
                self._feed_tasks.append(asyncio.create_task(feed.run(self.stopping)))
        if self.options.callback_url is not None:
            self._background.append(asyncio.create_task(self._register_hooks([worker])))
        log.info("tenant started", extra={"tenant": tenant.name})

    async def remove_tenant(self, name: str) -> None:
        """Stop running ``name`` as a stopping service would: after the record in hand."""
        worker = self.workers.get(name)
        if worker is None:
            return
        feed = self._feed_of(worker)
        if feed is not None and worker in feed.workers:
            feed.remove(worker)
        await self._drain([name])
        del self.workers[name]
        self._hook_secrets.pop(name, None)
        self.metrics.tenant_up.labels(tenant=name).set(0)
        log.info("tenant stopped", extra={"tenant": name})

    async def serve_until_signalled(self) -> int:
        """:meth:`run`, stopping on SIGTERM or SIGINT (Ctrl-C)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop)
        try:
            return await self.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)

    # -- health and hooks --------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` answers."""
        tenants = {
            name: {"state": w.health, "reason": w.reason, "syncs": w.syncs}
            for name, w in self.workers.items()
        }
        feeds = {f.client_id: {"live": f.live, "connections": f.connections} for f in self.feeds}
        healthy = all(t["state"] == "ok" for t in tenants.values())
        return {
            "status": "stopping" if self.stopping.is_set() else ("ok" if healthy else "degraded"),
            "tenants": tenants,
            "change_feeds": feeds,
        }

    def hook_called(self, tenant: str, secret: str) -> bool:
        """A webCRM hook arrived for ``tenant``; true when it is genuine (it wakes the tenant)."""
        expected = self._hook_secrets.get(tenant)
        worker = self.workers.get(tenant)
        if expected is None or worker is None or not secrets.compare_digest(expected, secret):
            return False
        worker.trigger("webcrm hook")
        return True

    async def _register_hooks(self, workers: Sequence[TenantWorker]) -> None:
        """Subscribe webCRM's hooks of these tenants to this server (when public)."""
        base = self.options.callback_url
        if base is None:
            return
        for worker in workers:
            name = worker.name
            try:
                await worker.ready.wait()
                await self._register(name, worker, base.rstrip("/"))
            except ApiError as error:
                log.warning(
                    "webcrm hooks not registered; polling only",
                    extra={"tenant": name, "error": str(error)},
                )

    async def _register(self, name: str, worker: TenantWorker, base: str) -> None:
        secret = await self.store.get(name, "hook_secret")
        if not secret:
            secret = secrets.token_urlsafe(24)
            await self.store.put(name, "hook_secret", secret)
        target = f"{base}/hooks/webcrm/{name}/{secret}"
        clients = worker.clients
        assert clients is not None
        for entity in HOOK_ENTITIES:
            existing = [h async for h in clients.webcrm.hooks(entity)]
            for event in ("Create", "Update"):
                if any(h.target_url == target and h.event_type == event for h in existing):
                    continue
                hook = Hook(target_url=target, event_type=event)
                await clients.webcrm.create_hook(entity, hook)
        self._hook_secrets[name] = secret
        log.info("webcrm hooks registered", extra={"tenant": name})
