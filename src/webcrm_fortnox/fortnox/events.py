"""Fortnox's WebSocket change feed (``wss://ws.fortnox.se/topics-v1``), as a resumable stream.

The protocol (reference §7.2): one connection for any number of companies; JSON commands
``add-tenants-v1`` (client secret and access tokens), ``add-topics-v1`` (topics, each with an
optional offset to replay from) and ``subscribe-v1``, each answered with
``{"response": <command>, "result": "ok", …}``; then events such as::

    {"topic": "invoices", "offset": "xDy7J", "type": "invoice-bookkeep-v1",
     "tenantId": 29302, "entityId": "3817", "timestamp": "2017-12-28T14:59:16.500+01:00"}

Events are minimal (refetch the record over REST) and delivered *at least once*. Offsets are
opaque strings, unique and ordered within a topic. :class:`EventStream` hands each event's offset
to an :class:`OffsetStore` once the consumer has handled it, and after a disconnect (or a restart)
subscribes again from the stored offsets. Replaying from a stored offset may deliver the last
handled event again, and the feed itself may repeat events: the stream drops repeats it has seen
recently, and consumers must still treat events as hints that can repeat (refetching the record is
idempotent).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from webcrm_fortnox.fortnox.classify import SYSTEM
from webcrm_fortnox.transport.errors import AuthExpired, TransientError, ValidationError
from webcrm_fortnox.transport.retry import RetryPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeEvent:
    """One change announced by Fortnox.

    Attributes:
        topic: e.g. ``"customers"``, ``"invoices"``.
        offset: the event's position in its topic (opaque).
        type: e.g. ``"customer-updated-v2"``, ``"invoice-bookkeep-v1"``.
        tenant_id: the company.
        entity_id: the record's number (CustomerNumber, DocumentNumber, ArticleNumber…).
        timestamp: when it happened, with Swedish offset (``…+01:00``).
    """

    topic: str
    offset: str
    type: str
    tenant_id: int
    entity_id: str
    timestamp: datetime | None

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> ChangeEvent:
        """Read an event frame."""
        raw_time = message.get("timestamp")
        try:
            timestamp = datetime.fromisoformat(str(raw_time)) if raw_time else None
        except ValueError:
            timestamp = None
        return cls(
            topic=str(message["topic"]),
            offset=str(message["offset"]),
            type=str(message.get("type", "")),
            tenant_id=int(message["tenantId"]),
            entity_id=str(message.get("entityId", "")),
            timestamp=timestamp,
        )


class OffsetStore(Protocol):
    """Keeps the last handled offset per topic, so a restarted stream resumes there."""

    async def load(self) -> Mapping[str, str]:
        """Topic → last handled offset."""
        ...

    async def save(self, topic: str, offset: str) -> None:
        """Remember that the event at ``offset`` of ``topic`` was handled."""
        ...


class MemoryOffsetStore:
    """An :class:`OffsetStore` in memory (tests, or a process that may replay on restart)."""

    def __init__(self, offsets: Mapping[str, str] | None = None) -> None:
        self.offsets: dict[str, str] = dict(offsets or {})

    async def load(self) -> Mapping[str, str]:
        return dict(self.offsets)

    async def save(self, topic: str, offset: str) -> None:
        self.offsets[topic] = offset


class TokenSource(Protocol):
    """A company's credential, as the feed needs it (both auth classes qualify)."""

    async def access_token(self) -> str: ...

    async def invalidate(self, rejected: Mapping[str, str]) -> None: ...


Connect = Callable[[str], AbstractAsyncContextManager[Any]]


def _connect(url: str) -> AbstractAsyncContextManager[Any]:
    return websockets.connect(url, open_timeout=20, max_size=2**20)


class EventStream:
    """Change events for several companies over one connection, resuming after disconnects.

    Args:
        url: the feed, e.g. ``FortnoxUrls().websocket``.
        client_secret: the integration's secret (``add-tenants-v1`` still carries it).
        tenants: one credential per company to follow.
        topics: the topics to follow, e.g. ``["customers", "articles", "orders", "invoices"]``.
        offsets: where handled offsets are kept.
        retry: backoff between reconnects.
        max_reconnects: give up after this many failed reconnects in a row (``None``: never).
        recent: how many recent events are remembered to drop repeats.
        connect: opens the WebSocket (injectable for tests).
        sleep: the sleeper between reconnects.
    """

    def __init__(
        self,
        url: str,
        *,
        client_secret: str,
        tenants: Sequence[TokenSource],
        topics: Sequence[str],
        offsets: OffsetStore,
        retry: RetryPolicy | None = None,
        max_reconnects: int | None = None,
        recent: int = 10_000,
        connect: Connect = _connect,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self._client_secret = client_secret
        self.tenants = list(tenants)
        self.topics = list(topics)
        self.offsets = offsets
        self.retry = retry or RetryPolicy(attempts=max_reconnects or 1_000_000, max_delay=60.0)
        self.max_reconnects = max_reconnects
        self._recent: OrderedDict[tuple[str, int, str], None] = OrderedDict()
        self._recent_size = recent
        self._connect = connect
        self._sleep = sleep
        self.connections = 0
        self.duplicates_dropped = 0
        self.tenant_ids: dict[str, int] = {}
        #: Set while subscribed (events flow), cleared while reconnecting: for health checks,
        #: and for callers that must not make changes before the feed can see them.
        self.live = asyncio.Event()

    async def events(self) -> AsyncIterator[ChangeEvent]:
        """Every new event, forever (until the consumer stops or reconnecting gives up).

        An event's offset is stored when the consumer asks for the next one, i.e. after it was
        handled; an event the consumer was still handling when it stopped comes again.

        Raises:
            TransientError: the feed stayed unreachable for ``max_reconnects`` tries.
            AuthExpired: a company's fresh access token was refused.
        """
        failures = 0
        while True:
            try:
                async with self._connect(self.url) as socket:
                    self.connections += 1
                    pending = await self._handshake(socket)
                    self.live.set()
                    failures = 0
                    for message in pending:
                        async for event in self._deliver(message):
                            yield event
                    async for frame in socket:
                        async for event in self._deliver(json.loads(frame)):
                            yield event
                # The server closed the connection cleanly: resume like after a drop.
                error = TransientError("the change feed closed the connection", system=SYSTEM)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                error = TransientError(f"change feed connection lost: {exc!r}", system=SYSTEM)
            finally:
                self.live.clear()
            failures += 1
            if self.max_reconnects is not None and failures > self.max_reconnects:
                raise error
            delay = self.retry.delay(failures, error)
            log.info("fortnox change feed reconnecting", extra={"delay": round(delay, 3)})
            await self._sleep(delay)

    async def _deliver(self, message: Any) -> AsyncIterator[ChangeEvent]:
        if not isinstance(message, Mapping) or "response" in message or "topic" not in message:
            return
        event = ChangeEvent.from_message(message)
        key = (event.topic, event.tenant_id, event.offset)
        if key in self._recent:
            self.duplicates_dropped += 1
            return
        self._recent[key] = None
        if len(self._recent) > self._recent_size:
            self._recent.popitem(last=False)
        yield event
        # Reached when the consumer asks for the next event: this one has been handled.
        await self.offsets.save(event.topic, event.offset)

    async def _handshake(self, socket: Any) -> list[Any]:
        """Add tenants and topics (from the stored offsets) and subscribe.

        Returns:
            Events that arrived before the last answer, to be delivered first.
        """
        early: list[Any] = []
        tokens = [await tenant.access_token() for tenant in self.tenants]
        answer = await self._command(socket, early, self._add_tenants(tokens))
        invalid = set(answer.get("invalidTokens") or [])
        if invalid:
            # A token may have expired between fetching and sending: renew those once.
            for tenant, token in zip(self.tenants, tokens, strict=True):
                if token in invalid:
                    await tenant.invalidate({"Authorization": f"Bearer {token}"})
            retry_tokens = [
                await tenant.access_token()
                for tenant, token in zip(self.tenants, tokens, strict=True)
                if token in invalid
            ]
            again = await self._command(socket, early, self._add_tenants(retry_tokens))
            if again.get("invalidTokens"):
                raise AuthExpired(
                    "Fortnox's change feed refused a company's access token.", system=SYSTEM
                )
            self.tenant_ids.update(again.get("tenantIds") or {})
        self.tenant_ids.update(answer.get("tenantIds") or {})
        stored = await self.offsets.load()
        topics: list[dict[str, str]] = []
        for topic in self.topics:
            entry = {"topic": topic}
            if topic in stored:
                entry["offset"] = stored[topic]
            topics.append(entry)
        answer = await self._command(socket, early, {"command": "add-topics-v1", "topics": topics})
        if answer.get("invalidTopics"):
            raise ValidationError(
                f"Fortnox's change feed refused topics {answer['invalidTopics']}", system=SYSTEM
            )
        await self._command(socket, early, {"command": "subscribe-v1"})
        return early

    def _add_tenants(self, tokens: list[str]) -> dict[str, Any]:
        return {
            "command": "add-tenants-v1",
            "clientSecret": self._client_secret,
            "accessTokens": tokens,
        }

    async def _command(self, socket: Any, early: list[Any], command: dict[str, Any]) -> Any:
        await socket.send(json.dumps(command))
        while True:
            message = json.loads(await socket.recv())
            if isinstance(message, Mapping) and message.get("response") == command["command"]:
                if message.get("result") != "ok":
                    raise ValidationError(
                        f"Fortnox's change feed refused {command['command']}: {message}",
                        system=SYSTEM,
                    )
                return message
            early.append(message)
