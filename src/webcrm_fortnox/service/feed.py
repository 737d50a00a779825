"""Fortnox's change feed for the service: one connection per integration, events to tenants.

Every tenant using the same client id and change-feed address shares one WebSocket (Fortnox asks
for one connection for all companies, reference §7.2). The handled offsets are kept in the state
store under the pseudo-tenant ``feed:<client id>``, so a restarted service replays what it missed.
Each event is stored as an announcement for its tenant (before its offset is, so a restart loses
none) and wakes the tenant's worker. A tenant joining the subscription syncs once, as a change
made before may lie before any event the feed will announce; once such a sync has listed
Fortnox's changes, the records the feed announces are all that changed, and the syncs it
triggers read only those (see ``TenantWorker`` and :mod:`webcrm_fortnox.store.feed`). A
connection that resubscribes from a stored offset in every topic (after a drop, or in a
restarted service) replays what it missed, so its tenants need no such sync; one that cannot
(a topic that never had an event) starts them over.

A tenant joins the live connection once its clients are open and leaves it while it is paused
(its token would make a later handshake fail), with ``add-tenants-v1`` / ``remove-tenants-v1`` on
the open socket: the other tenants stay subscribed, and only the one joining syncs to catch up.
:meth:`FeedListener.add` and :meth:`FeedListener.remove` change which tenants it serves while it
runs. A refused token leaves its tenant out until it opens new clients (asking again would be
refused again); a refusal, and a feed failing the same way on every retry, is logged once, and
again when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.errors import ApiError, AuthError, TransientError
from webcrm_fortnox.fortnox.events import ChangeEvent, EventStream
from webcrm_fortnox.service.connections import TenantClients
from webcrm_fortnox.service.logs import ConditionLog
from webcrm_fortnox.service.metrics import ServiceMetrics
from webcrm_fortnox.store.feed import HEARTBEAT, FeedStore
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

#: The topics of what the sync keeps in step.
TOPICS = ("customers", "articles", "orders", "invoices")
_OFFSET = "offset:"


class FeedMember(Protocol):
    """A tenant as the feed serves it: ``run``'s tenant worker, or the ``feed`` process's."""

    name: str
    #: set once its clients are open (the subscription carries it from then on)
    ready: asyncio.Event
    #: whether the feed carries it now
    feed_live: bool
    #: set while the feed carries it (``None``: no feed serves it)
    feed_joined: asyncio.Event | None

    @property
    def clients(self) -> TenantClients | None: ...

    @property
    def company_id(self) -> int | None: ...

    def trigger(
        self, reason: str, *, fortnox_ids: tuple[str, ...] = (), at: datetime | None = None
    ) -> None: ...


#: Defers a tenant's sync in the transaction that stores an announcement (tenant, trigger).
Deferral = Callable[[AsyncConnection, str, str], Awaitable[object]]


async def _defer_in(defer: Deferral, tenant: str, trigger: str, conn: AsyncConnection) -> None:
    await defer(conn, tenant, trigger)


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

    def __init__(self, worker: FeedMember, on_refused: Callable[[FeedMember], None]) -> None:
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

    The subscription carries every tenant of the integration whose clients are open: one that
    becomes ready (or is added) while the connection is live joins it at once, and one that
    pauses (or is removed) leaves it, without a reconnect, so the others stay covered.

    Args:
        url: the feed's address.
        client_id: the integration's client id (names the stored offsets and the metric).
        client_secret: its secret (``add-tenants-v1`` carries it).
        workers: the tenants using this integration.
        store: where offsets are kept.
        metrics: ``webcrm_fortnox_change_feed_connected``.
        sleep: between reconnects.
        retry: the backoff between reconnects.
        defer: defers a tenant's sync job in each announcement's transaction (the ``feed``
            process, for the workers); without it an event wakes the tenant's worker (``run``).
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        workers: Sequence[FeedMember],
        store: ServiceStore,
        metrics: ServiceMetrics,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry: RetryPolicy | None = None,
        defer: Deferral | None = None,
    ) -> None:
        self.url = url
        self.client_id = client_id
        self._client_secret = client_secret
        self.workers = list(workers)
        for worker in self.workers:
            worker.feed_joined = asyncio.Event()
        self.offsets = StoredOffsets(store, client_id)
        self.ledger = FeedStore(store.db)
        self.metrics = metrics
        self.sleep = sleep
        self.retry = retry or RetryPolicy(attempts=1_000_000, base_delay=1.0, max_delay=30.0)
        self.defer = defer
        self.stream: EventStream | None = None
        self.connections = 0
        self.events_handled = 0
        #: the tenants in the subscription, with the credential it holds for each
        self._joined: dict[FeedMember, _TenantToken] = {}
        self._by_company: dict[int, FeedMember] = {}
        #: tenants whose token the feed refused: left out until they reopen their clients
        self._refused_workers: set[FeedMember] = set()
        self._members_changed = asyncio.Event()
        #: set once the live connection is recorded in the store (tenants join after that)
        self._recorded = asyncio.Event()
        self._conditions = ConditionLog(log)
        self._gauge = metrics.feed_connected.labels(client_id=client_id)
        self._gauge.set(0)

    @property
    def live(self) -> bool:
        return self.stream is not None and self.stream.live.is_set()

    @property
    def members(self) -> list[FeedMember]:
        """The tenants the subscription carries now."""
        return list(self._joined)

    def add(self, worker: FeedMember) -> None:
        """Serve one more tenant of this integration; it joins the subscription once ready."""
        if worker not in self.workers:
            worker.feed_joined = asyncio.Event()
            self.workers.append(worker)
            self._members_changed.set()

    def remove(self, worker: FeedMember) -> None:
        """Serve this tenant no more; it leaves the subscription."""
        if worker in self.workers:
            worker.feed_joined = None
            self.workers.remove(worker)
            self._members_changed.set()

    def _refused(self, worker: FeedMember) -> None:
        # Until the worker opens new clients (new credentials), asking again is refused again:
        # the tenant is left out rather than retried in a loop.
        self._refused_workers.add(worker)
        self._conditions.report(
            f"refused {worker.name}",
            "refused",
            "change feed: a tenant's token was refused; the feed leaves it out until its "
            "credentials change",
            extra={"tenant": worker.name},
        )
        self._members_changed.set()

    def _wanted(self) -> list[FeedMember]:
        """The tenants the subscription should carry: those whose clients are open."""
        for worker in list(self._refused_workers):
            if not worker.ready.is_set():
                self._refused_workers.discard(worker)  # paused: its next start may join again
                self._conditions.clear(f"refused {worker.name}")
        return [
            w
            for w in self.workers
            if w.ready.is_set() and w.clients is not None and w not in self._refused_workers
        ]

    async def run(self, stopping: asyncio.Event) -> None:
        """Follow the feed until ``stopping`` is set."""
        failures = 0
        # A service killed while subscribed left its connection marked live.
        await self.ledger.connection(self.client_id, live=False)
        try:
            while not stopping.is_set():
                if not self._wanted():
                    await self._wait_for_members(stopping)
                    continue
                try:
                    await self._follow(stopping)
                    failures = 0
                except (ApiError, OSError, SQLAlchemyError) as error:
                    # The state store failing (announcements, offsets) ends the connection too:
                    # an event whose announcement was not stored must come again.
                    failures += 1
                    reason = error if isinstance(error, ApiError) else TransientError(str(error))
                    delay = self.retry.delay(failures, reason)
                    self._conditions.report(
                        "feed",
                        str(error),
                        "change feed failed; Fortnox changes are polled meanwhile",
                        extra={"client_id": self.client_id, "error": str(error), "retry_in": delay},
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), delay)
        finally:
            self._set_live(self.workers, False)

    async def _wait_for_members(self, stopping: asyncio.Event | None = None) -> None:
        """Until a tenant may join, membership changes, or a second has passed (a tenant's
        pausing clears its ``ready``, which nothing can wait for)."""
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(w.ready.wait())
            for w in self.workers
            if w not in self._joined and w not in self._refused_workers
        ]
        if stopping is not None:
            waits.append(asyncio.ensure_future(stopping.wait()))
        waits.append(asyncio.ensure_future(self._members_changed.wait()))
        try:
            await asyncio.wait(waits, timeout=1.0, return_when="FIRST_COMPLETED")
        finally:
            for wait in waits:
                wait.cancel()

    def _set_live(self, members: Sequence[FeedMember], live: bool) -> None:
        self._gauge.set(1 if self.live else 0)
        for worker in members:
            worker.feed_live = live
            if worker.feed_joined is not None:
                (worker.feed_joined.set if live else worker.feed_joined.clear)()

    def _join(self, workers: Sequence[FeedMember]) -> list[_TenantToken]:
        tokens = [_TenantToken(w, self._refused) for w in workers]
        self._joined.update(zip(workers, tokens, strict=True))
        self._route()
        return tokens

    async def _leave(self, workers: Sequence[FeedMember]) -> list[_TenantToken]:
        tokens = [self._joined.pop(w) for w in workers if w in self._joined]
        self._set_live(workers, False)
        self._route()
        for worker in workers:
            await self.ledger.left(worker.name)
        return tokens

    def _route(self) -> None:
        self._by_company = {w.company_id: w for w in self._joined if w.company_id is not None}

    async def _follow(self, stopping: asyncio.Event) -> None:
        """Subscribe for the ready tenants, keeping the membership current, until the
        connection fails for good or the service stops."""
        self._members_changed.clear()
        self._joined = {}
        stream = EventStream(
            self.url,
            client_secret=self._client_secret,
            tenants=self._join(self._wanted()),
            topics=TOPICS,
            offsets=self.offsets,
            retry=self.retry,
            sleep=self.sleep,
        )
        self.stream = stream
        consume = asyncio.create_task(self._consume(stream))
        watch = asyncio.create_task(self._watch(stream))
        members = asyncio.create_task(self._keep_members(stream))
        stop = asyncio.ensure_future(stopping.wait())
        tasks: tuple[asyncio.Future[Any], ...] = (consume, watch, members, stop)
        try:
            done, _ = await asyncio.wait(tasks, return_when="FIRST_COMPLETED")
            for ended in (consume, members):
                if ended in done:
                    ended.result()  # raises why the feed ended
        finally:
            for pending in tasks:
                pending.cancel()
            for pending in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
            self.stream = None
            self._recorded.clear()
            self._set_live(self.members, False)
            self._joined = {}
            self._route()
            await self.ledger.connection(self.client_id, live=False)

    async def _keep_members(self, stream: EventStream) -> None:
        """Add the tenants that became ready to the live subscription, remove those that left."""
        while True:
            if not self._changes():
                await self._wait_for_members()
            self._members_changed.clear()
            wanted = self._wanted()
            leaving = [w for w in self._joined if w not in wanted]
            if leaving:
                await stream.remove(await self._leave(leaving))
            joining = [w for w in wanted if w not in self._joined]
            if not joining:
                continue
            # Joined before the connection is recorded live, a tenant's first listing could
            # not make the feed vouch for it.
            await self._recorded.wait()
            try:
                subscribed = await stream.add(self._join(joining))
            except ApiError as error:
                log.warning(
                    "change feed: tenants could not join; they are polled",
                    extra={"tenants": [w.name for w in joining], "error": str(error)},
                )
                await self._leave(joining)
                if isinstance(error, AuthError):
                    self._refused_workers.update(joining)
                else:
                    await self.sleep(self.retry.delay(1, error))
                continue
            if subscribed:
                await self._caught_up(joining)

    def _changes(self) -> bool:
        """Whether the membership differs from what the subscription carries."""
        return self._members_changed.is_set() or set(self._wanted()) != set(self._joined)

    async def _caught_up(
        self, workers: Sequence[FeedMember], *, connected: bool = False, resumed: bool = False
    ) -> None:
        """``workers`` were just subscribed: live from now on.

        Each starts a new epoch and syncs once, as a change made before may lie before any
        event the feed will announce. With ``connected`` the connection itself has just
        subscribed: it is recorded live (before anyone syncs), the tenants it left out are
        members no more, and with ``resumed`` (it replays from the stored offsets of every
        topic) those that were members before keep their epoch, the replay bringing what they
        missed.
        """
        fresh = []
        for worker in workers:
            if not (resumed and await self.ledger.resumed(worker.name, self.client_id)):
                await self.ledger.joined(worker.name, self.client_id)
                fresh.append(worker)
        if connected:
            for worker in self.workers:
                if worker not in self._joined:
                    await self.ledger.left(worker.name)  # a member no more (paused, refused)
            await self.ledger.connection(self.client_id, live=True)
        self._set_live(workers, True)
        for worker in fresh:
            worker.trigger("fortnox feed connected")

    async def _consume(self, stream: EventStream) -> None:
        async for event in stream.events():
            worker = self._by_company.get(event.tenant_id)
            if worker is None:
                continue  # a company no tenant follows (any more)
            # Stored before the event's offset is: a restart cannot lose it.
            reason = f"fortnox {event.topic}"
            defer = self.defer
            if defer is None:
                await self.ledger.announce(worker.name, event.topic, event.entity_id)
                worker.trigger(reason, fortnox_ids=event_record_ids(event), at=event.timestamp)
            else:
                # The announcement and the job that reads it are committed together.
                within = functools.partial(_defer_in, defer, worker.name, reason)
                await self.ledger.announce(worker.name, event.topic, event.entity_id, within=within)
            self.events_handled += 1

    async def _watch(self, stream: EventStream) -> None:
        """Mark the tenants live while subscribed; after a (re)connect, let them catch up."""
        while True:
            await stream.live.wait()
            await self._caught_up(self.members, connected=True, resumed=stream.resumed)
            self._recorded.set()
            self._conditions.clear("feed")
            self.connections += 1  # counted once the state is stored and catch-ups asked for
            log.info(
                "change feed subscribed",
                extra={
                    "client_id": self.client_id,
                    "tenants": len(self._joined),
                    "resumed": stream.resumed,
                },
            )
            # The stream signals only becoming live; its end is seen by looking.
            beat = time.monotonic()
            while stream.live.is_set():
                await asyncio.sleep(0.1)
                if time.monotonic() - beat >= HEARTBEAT:
                    beat = time.monotonic()
                    await self.ledger.beat(self.client_id)
            self._recorded.clear()
            await self.ledger.connection(self.client_id, live=False)
            self._set_live(self.members, False)
            log.info("change feed lost; polling Fortnox", extra={"client_id": self.client_id})
