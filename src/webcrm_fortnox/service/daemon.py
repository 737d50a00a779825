"""``webcrm-fortnox run``: every tenant of the configuration, until stopped.

:class:`SyncService` starts one :class:`~webcrm_fortnox.service.worker.TenantWorker` per tenant,
one :class:`~webcrm_fortnox.service.feed.FeedListener` per Fortnox integration (client id and
feed address), the ``/metrics`` and ``/healthz`` server, and, when a public callback address is
given, webCRM hooks that wake a tenant as soon as webCRM saves a record.

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
from webcrm_fortnox.service.metrics import ServiceMetrics
from webcrm_fortnox.service.runner import TenantPlace
from webcrm_fortnox.service.worker import TenantWorker, WorkerSettings
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.transport.errors import ApiError
from webcrm_fortnox.webcrm.client import HookEntity
from webcrm_fortnox.webcrm.models import Hook

log = logging.getLogger(__name__)

#: How long a stopping service waits for syncs to finish their record before cancelling them.
STOP_GRACE = 60.0
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
    """

    worker: WorkerSettings = field(default_factory=WorkerSettings)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9464
    callback_url: str | None = None
    feed: bool = True
    places: Mapping[str, TenantPlace] = field(default_factory=dict)


class SyncService:
    """The running service for a set of tenants.

    Args:
        tenants: the tenants to run.
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
        self.metrics = ServiceMetrics()
        # Tenants the store has no schedule of yet start spread over their interval.
        self.workers = {
            t.name: TenantWorker(
                t,
                db,
                connector,
                self.metrics,
                self.options.worker,
                place=self.options.places.get(t.name),
                first_cycle_delay=t.sync_interval_seconds * n / len(tenants),
            )
            for n, t in enumerate(tenants)
        }
        self.feeds = self._feeds() if self.options.feed else []
        self.stopping = asyncio.Event()
        self.url: str | None = None
        self.started = asyncio.Event()
        self._hook_secrets: dict[str, str] = {}

    def _feeds(self) -> list[FeedListener]:
        groups: dict[tuple[str, str, str], list[TenantWorker]] = {}
        for worker in self.workers.values():
            fortnox = worker.tenant.fortnox
            key = (fortnox.ws_url, fortnox.client_id, fortnox.client_secret.get_secret_value())
            groups.setdefault(key, []).append(worker)
        return [
            FeedListener(url, client_id, secret, members, self.store, self.metrics)
            for (url, client_id, secret), members in groups.items()
        ]

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
            tasks = {
                asyncio.create_task(worker.run(self.stopping), name=f"tenant {name}"): worker
                for name, worker in self.workers.items()
            }
            feeds = [asyncio.create_task(feed.run(self.stopping)) for feed in self.feeds]
            hooks = asyncio.create_task(self._register_hooks())
            self.started.set()
            log.info("service started", extra={"tenants": sorted(self.workers)})
            await self.stopping.wait()
            log.info("service stopping")
            hooks.cancel()
            await self._drain(tasks)
            for task in feeds:
                task.cancel()
            for task in [*feeds, hooks]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        log.info("service stopped")
        return 0

    async def _drain(self, tasks: dict[asyncio.Task[None], TenantWorker]) -> None:
        """Let running syncs stop after the record in hand; cancel what is left after a grace."""
        for worker in tasks.values():
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

    async def _register_hooks(self) -> None:
        """Subscribe webCRM's hooks of every tenant to this server (when public)."""
        base = self.options.callback_url
        if base is None:
            return
        for name, worker in self.workers.items():
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
