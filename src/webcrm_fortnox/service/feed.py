"""Fortnox's change feed for the service: one connection per integration, events to tenants.

Every tenant using the same client id and change-feed address shares one WebSocket (Fortnox asks
for one connection for all companies, reference §7.2). The handled offsets are kept in the state
store under the pseudo-tenant ``feed:<client id>``, so a restarted service replays what it missed.
Each event wakes its tenant's worker; after every (re)connect all tenants of the connection sync
once too, because a change made while the feed was down may lie before any stored offset. Once
such a sync has listed Fortnox's changes, the records the feed announces are all that changed,
and the syncs it triggers read only those (see ``TenantWorker``).

A tenant joins once its clients are open and leaves while it is paused or once its token was
refused, until it opens new clients (its token would make the whole subscription fail); the
subscription is rebuilt when the members change. A refusal, and a feed failing the same way on
every retry, is logged once, and again when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from webcrm_fortnox.fortnox.events import ChangeEvent, EventStream
from webcrm_fortnox.service.connections import TenantClients
from webcrm_fortnox.service.logs import ConditionLog
from webcrm_fortnox.service.metrics import ServiceMetrics
from webcrm_fortnox.service.worker import TenantWorker
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.transport.errors import ApiError, AuthError, TransientError
from webcrm_fortnox.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

#: The topics of what the sync keeps in step.
TOPICS = ("customers", "articles", "orders", "invoices")
_OFFSET = "offset:"


class StoredOffsets:
    """An :class:`~webcrm_fortnox.fortnox.events.OffsetStore` in the service state."""

    def __init__(self, store: ServiceStore, client_id: str) -> None:
        self.store = store
        self.owner = f"feed:{client_id}"

    async def load(self) -> Mapping[str, str]:
        values = await self.store.values(self.owner)
        return {
            key[len(_OFFSET) :]: str(value)
            for key, value in values.items()
            if key.startswith(_OFFSET) and value is not None
        }

    async def save(self, topic: str, offset: str) -> None:
        await self.store.put(self.owner, _OFFSET + topic, offset)


class _TenantToken:
    """A worker's Fortnox credential as the feed uses it; a refused grant pauses the tenant."""

    def __init__(self, worker: TenantWorker, on_refused: Callable[[TenantWorker], None]) -> None:
        self.worker = worker
        self._on_refused = on_refused

    def _auth(self) -> object:
        clients = self.worker.clients
        if clients is None or clients.fortnox_auth is None:
            raise AuthError("the tenant's Fortnox clients are closed", system="fortnox")
        return clients.fortnox_auth

    async def access_token(self) -> str:
        auth = self._auth()
        try:
            return await auth.access_token()  # type: ignore[attr-defined, no-any-return]
        except AuthError:
            self._on_refused(self.worker)
            raise

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        await self._auth().invalidate(rejected)  # type: ignore[attr-defined]


def event_record_ids(event: ChangeEvent) -> tuple[str, ...]:
    """The ids the announced record may have on the Fortnox side of a link."""
    singular = event.topic.removesuffix("s")
    return (event.entity_id, f"{singular}:{event.entity_id}")


class FeedListener:
    """One change-feed connection and the tenants it serves.

    Args:
        url: the feed's address.
        client_id: the integration's client id (names the stored offsets and the metric).
        client_secret: its secret (``add-tenants-v1`` carries it).
        workers: the tenants using this integration.
        store: where offsets are kept.
        metrics: ``webcrm_fortnox_change_feed_connected``.
        connect: opens the WebSocket (tests may inject); the library's by default.
        sleep: between reconnects.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        workers: Sequence[TenantWorker],
        store: ServiceStore,
        metrics: ServiceMetrics,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url
        self.client_id = client_id
        self._client_secret = client_secret
        self.workers = list(workers)
        self.offsets = StoredOffsets(store, client_id)
        self.metrics = metrics
        self.sleep = sleep
        self.retry = retry or RetryPolicy(attempts=1_000_000, base_delay=1.0, max_delay=30.0)
        self.stream: EventStream | None = None
        self.connections = 0
        self.events_handled = 0
        self._members_changed = asyncio.Event()
        self._joining: dict[str, asyncio.Future[None]] = {}
        self._refused_clients: dict[str, TenantClients | None] = {}
        self._conditions = ConditionLog(log)
        self._gauge = metrics.feed_connected.labels(client_id=client_id)
        self._gauge.set(0)

    @property
    def live(self) -> bool:
        return self.stream is not None and self.stream.live.is_set()

    def add(self, worker: TenantWorker) -> None:
        """Serve ``worker`` too (a tenant registered while running); the subscription is
        rebuilt once its clients are open."""
        self.workers.append(worker)
        self._joining[worker.name] = asyncio.ensure_future(self._join_when_ready(worker))

    async def _join_when_ready(self, worker: TenantWorker) -> None:
        await worker.ready.wait()
        self._members_changed.set()

    def remove(self, worker: TenantWorker) -> None:
        """Stop serving ``worker``; the subscription is rebuilt without it."""
        joining = self._joining.pop(worker.name, None)
        if joining is not None:
            joining.cancel()
        self.workers.remove(worker)
        worker.feed_live = False
        self._members_changed.set()

    def _refused(self, worker: TenantWorker) -> None:
        # Until the worker opens new clients (new credentials), asking again is refused again:
        # the tenant is left out rather than retried in a loop.
        self._refused_clients[worker.name] = worker.clients
        self._conditions.report(
            f"refused {worker.name}",
            "refused",
            "change feed: a tenant's token was refused; the feed leaves it out until its "
            "credentials change",
            extra={"tenant": worker.name},
        )
        self._members_changed.set()

    def _members(self) -> list[TenantWorker]:
        members = []
        for worker in self.workers:
            if not worker.ready.is_set() or worker.clients is None:
                continue
            if self._refused_clients.get(worker.name) is worker.clients:
                continue
            self._refused_clients.pop(worker.name, None)
            self._conditions.clear(f"refused {worker.name}")
            members.append(worker)
        return members

    async def run(self, stopping: asyncio.Event) -> None:
        """Follow the feed until ``stopping`` is set."""
        failures = 0
        try:
            while not stopping.is_set():
                members = self._members()
                if not members:
                    await self._wait_for_members(stopping)
                    continue
                self._members_changed.clear()
                try:
                    await self._follow(members, stopping)
                    failures = 0
                except (ApiError, OSError) as error:
                    failures += 1
                    reason = error if isinstance(error, ApiError) else TransientError(str(error))
                    delay = self.retry.delay(failures, reason)
                    self._conditions.report(
                        "feed",
                        str(error),
                        "change feed failed; Fortnox changes are polled meanwhile",
                        extra={"client_id": self.client_id, "error": str(error), "retry_in": delay},
                    )
                    self._set_live(members, False)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), delay)
        finally:
            self._set_live(self.workers, False)

    async def _wait_for_members(self, stopping: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(w.ready.wait()) for w in self.workers]
        waits.append(asyncio.ensure_future(stopping.wait()))
        try:
            await asyncio.wait(waits, timeout=1.0, return_when="FIRST_COMPLETED")
        finally:
            for wait in waits:
                wait.cancel()

    def _set_live(self, members: Sequence[TenantWorker], live: bool) -> None:
        self._gauge.set(1 if live else 0)
        for worker in members:
            worker.feed_live = live

    async def _follow(self, members: list[TenantWorker], stopping: asyncio.Event) -> None:
        """Subscribe for ``members`` until the members change or the service stops."""
        stream = EventStream(
            self.url,
            client_secret=self._client_secret,
            tenants=[_TenantToken(w, self._refused) for w in members],
            topics=TOPICS,
            offsets=self.offsets,
            retry=self.retry,
            sleep=self.sleep,
        )
        self.stream = stream
        consume = asyncio.create_task(self._consume(stream, members))
        watch = asyncio.create_task(self._watch(stream, members))
        stop = asyncio.ensure_future(stopping.wait())
        changed = asyncio.ensure_future(self._members_changed.wait())
        try:
            done, _ = await asyncio.wait(
                {consume, stop, changed, watch}, return_when="FIRST_COMPLETED"
            )
            if consume in done:
                consume.result()  # raises why the feed ended
        finally:
            for task in (consume, watch, stop, changed):
                task.cancel()
            for task in (consume, watch):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.stream = None
            self._set_live(members, False)

    async def _consume(self, stream: EventStream, members: list[TenantWorker]) -> None:
        by_company = {w.company_id: w for w in members if w.company_id is not None}
        async for event in stream.events():
            worker = by_company.get(event.tenant_id)
            if worker is None:
                continue  # a company no tenant follows (any more)
            self.events_handled += 1
            worker.trigger(
                f"fortnox {event.topic}",
                fortnox_ids=event_record_ids(event),
                at=event.timestamp,
                announced=(event.topic, event.entity_id),
            )

    async def _watch(self, stream: EventStream, members: list[TenantWorker]) -> None:
        """Mark the tenants live while subscribed; after every (re)connect, let them catch up."""
        while True:
            await stream.live.wait()
            self.connections += 1
            self._set_live(members, True)
            self._conditions.clear("feed")
            log.info("change feed subscribed", extra={"client_id": self.client_id})
            for worker in members:
                worker.trigger("fortnox feed connected")
            # The stream signals only becoming live; its end is seen by looking.
            while stream.live.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            self._set_live(members, False)
            log.info("change feed lost; polling Fortnox", extra={"client_id": self.client_id})
