"""The change feed: Fortnox's WebSocket "topics" API at ``/topics-v1``.

One connection serves any number of tenants (reference §7.2). The client sends JSON commands::

    {"command": "add-tenants-v1", "clientSecret": S, "accessTokens": [T, …]}
    {"command": "add-topics-v1",
     "topics": [{"topic": "customers"}, {"topic": "invoices", "offset": "17"}]}
    {"command": "subscribe-v1"}
    {"command": "remove-tenants-v1", "tenants": [tenantId, …]}

and receives a response to each (``{"response": command, "result": "ok", …}``), then events::

    {"topic": "customers", "offset": "18", "type": "customer-updated-v2", "tenantId": 1,
     "entityId": "42", "timestamp": "2026-03-01T12:30:00.250+01:00"}

Offsets: the real ones are opaque strings. Here an offset is the decimal string of a counter kept
per topic (shared by all tenants, as offsets are unique within a topic) in storage, so it
survives restarts and increases with every event of the topic. Replay
is inclusive: ``add-topics-v1`` with ``"offset": "17"`` delivers event 17 and everything after it
(still kept: two weeks, as Fortnox promises), then live events. Without an offset only events
published after ``subscribe-v1`` arrive. Delivery is at-least-once: the kit's
``duplicate_events_rate`` fault sends some events twice, as Kafka behind the real feed may.

Unconfirmed in the reference, so chosen here: a subscribed tenant stays subscribed after its access
token expires; unknown commands get ``{"result": "error"}``; no heartbeat is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import WebSocket, WebSocketDisconnect

from webcrm_fortnox.emulation import EmulatorClock, FaultInjector, Storage

STOCKHOLM = ZoneInfo("Europe/Stockholm")
RETENTION = 14 * 86400.0

# reference §7.2 (zenta-ab/fortnox.NET WebSocketTopic.cs)
TOPICS = frozenset(
    {
        "invoices",
        "customers",
        "orders",
        "offers",
        "articles",
        "currencies",
        "termsofdeliveries",
        "waysofdeliveries",
        "termsofpayments",
        "bureau-activities",
        "bureau-assignments",
        "cost-centers",
        "financial-years",
        "messages",
        "projects",
        "suppliers",
        "supplier-invoices",
        "vouchers",
        "warehouse-stockbalances",
    }
)

Event = dict[str, Any]


@dataclass
class Subscription:
    """One connection's wishes: which tenants and topics, from which offsets."""

    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    tenants: set[int] = field(default_factory=set)
    topics: dict[str, int | None] = field(default_factory=dict)
    streaming: bool = False

    def wants(self, tenant_id: int, topic: str) -> bool:
        return self.streaming and tenant_id in self.tenants and topic in self.topics


#: The storage namespace of the per-topic offset counters (no tenant id looks like it).
FEED_NAMESPACE = "_feed"


class EventLog:
    """Per tenant and topic, the events of the last two weeks, and the live subscribers."""

    def __init__(self, storage: Storage, clock: EmulatorClock) -> None:
        self._storage = storage
        self._clock = clock
        self._subscribers: list[Subscription] = []

    def publish(self, tenant_id: int, topic: str, event_type: str, entity_id: str) -> Event:
        """Record an event and hand it to every subscriber that wants it."""
        namespace = str(tenant_id)
        # One counter per topic across all tenants: offsets are unique within a topic (reference
        # §7.2), so one stored offset per topic replays correctly for every tenant of a connection.
        offset = self._storage.next_number(FEED_NAMESPACE, f"offset:{topic}")
        now = self._clock.timestamp()
        event: Event = {
            "topic": topic,
            "offset": str(offset),
            "type": event_type,
            "tenantId": tenant_id,
            "entityId": entity_id,
            "timestamp": datetime.fromtimestamp(now, STOCKHOLM).isoformat(timespec="milliseconds"),
        }
        table = self._storage.table(namespace, f"events:{topic}")
        table.put(str(offset), {**event, "_at": now})
        self._prune(table, now)
        for subscription in self._subscribers:
            if subscription.wants(tenant_id, topic):
                subscription.queue.put_nowait(event)
        return event

    def _prune(self, table: Any, now: float) -> None:
        for key in list(itertools.islice(table, 16)):  # a few per publish keeps pruning O(1)
            row = table.get(key)
            if row is None or row["_at"] >= now - RETENTION:
                break
            table.delete(key)

    def since(self, tenant_id: int, topic: str, offset: int) -> list[Event]:
        """Kept events of a tenant's topic from ``offset`` on, oldest first."""
        table = self._storage.table(str(tenant_id), f"events:{topic}")
        horizon = self._clock.timestamp() - RETENTION
        return [
            {k: v for k, v in row.items() if k != "_at"}
            for row in table.values()
            if int(row["offset"]) >= offset and row["_at"] >= horizon
        ]

    def attach(self, subscription: Subscription) -> None:
        self._subscribers.append(subscription)

    def detach(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscription)

    def start(
        self, subscription: Subscription, tenants: set[int], topics: dict[str, int | None]
    ) -> None:
        """Queue the replay for newly wanted (tenant, topic) pairs, then let live events in.

        Runs without awaiting, so no live event can slip between the replay and the switch.
        """
        for tenant_id in sorted(tenants):
            for topic, offset in topics.items():
                if offset is not None:
                    for event in self.since(tenant_id, topic, offset):
                        subscription.queue.put_nowait(event)
        subscription.streaming = True


TokenCheck = Callable[[str, str], int | None]


async def serve_topics(
    websocket: WebSocket, log: EventLog, faults: FaultInjector, tenant_of: TokenCheck
) -> None:
    """Run one ``/topics-v1`` connection until the client goes away.

    Args:
        websocket: the connection.
        log: the event log.
        faults: the kit's fault injector (``duplicate_events_rate``).
        tenant_of: (client secret, access token) → tenant id, or None if not valid.
    """
    await websocket.accept()
    subscription = Subscription()
    log.attach(subscription)
    lock = asyncio.Lock()

    async def send(message: Event) -> None:
        async with lock:
            await websocket.send_text(json.dumps(message, ensure_ascii=False))

    async def pump() -> None:
        while True:
            event = await subscription.queue.get()
            if event["tenantId"] not in subscription.tenants:
                continue  # removed while queued
            await send(event)
            if faults.chance(faults.settings.duplicate_events_rate):
                await send(event)

    sender = asyncio.create_task(pump())
    try:
        while True:
            try:
                command = json.loads(await websocket.receive_text())
            except json.JSONDecodeError:
                await send({"response": None, "result": "error", "error": "invalid json"})
                continue
            await send(_handle(command, subscription, log, tenant_of))
    except WebSocketDisconnect:
        pass
    finally:
        log.detach(subscription)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


def _handle(
    command: Any, subscription: Subscription, log: EventLog, tenant_of: TokenCheck
) -> Event:
    name = command.get("command") if isinstance(command, dict) else None
    if name == "add-tenants-v1":
        secret = str(command.get("clientSecret", ""))
        tenant_ids: dict[str, int] = {}
        invalid: list[str] = []
        for token in command.get("accessTokens") or []:
            tenant_id = tenant_of(secret, str(token))
            if tenant_id is None:
                invalid.append(str(token))
            else:
                tenant_ids[str(token)] = tenant_id
        new = set(tenant_ids.values()) - subscription.tenants
        subscription.tenants |= new
        if subscription.streaming and new:
            log.start(subscription, new, subscription.topics)
        return {
            "response": name,
            "result": "ok",
            "tenantIds": tenant_ids,
            "invalidTokens": invalid,
        }
    if name == "add-topics-v1":
        invalid_topics: list[str] = []
        added: dict[str, int | None] = {}
        for entry in command.get("topics") or []:
            topic = entry.get("topic") if isinstance(entry, dict) else None
            offset = entry.get("offset") if isinstance(entry, dict) else None
            if topic not in TOPICS or (offset is not None and not str(offset).isdigit()):
                invalid_topics.append(str(topic))
                continue
            added[str(topic)] = None if offset is None else int(offset)
        subscription.topics.update(added)
        if subscription.streaming and added:
            log.start(subscription, subscription.tenants, added)
        return {"response": name, "result": "ok", "invalidTopics": invalid_topics}
    if name == "subscribe-v1":
        if not subscription.streaming:
            log.start(subscription, subscription.tenants, subscription.topics)
        return {"response": name, "result": "ok"}
    if name == "remove-tenants-v1":
        for tenant_id in command.get("tenants") or []:
            with contextlib.suppress(TypeError, ValueError):
                subscription.tenants.discard(int(tenant_id))
        return {"response": name, "result": "ok"}
    return {"response": name, "result": "error", "error": "unknown command"}
