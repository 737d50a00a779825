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

Companies join and leave a live connection with :meth:`EventStream.add` and
:meth:`EventStream.remove` (``add-tenants-v1`` and ``remove-tenants-v1`` on the open socket), so
a tenant that becomes ready later never costs the others a reconnect; a company added while the
stream is reconnecting is subscribed by the next handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from webcrm_fortnox.errors import AuthExpired, TransientError, ValidationError
from webcrm_fortnox.fortnox.classify import SYSTEM
from webcrm_fortnox.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

#: Seconds a command sent on the live connection waits for its answer.
COMMAND_PATIENCE = 30.0


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


class FeedDisconnected(TransientError):
    """The connection ended while a command sent on it waited for its answer."""


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
        #: the company each subscribed credential stands for (``remove-tenants-v1`` names them)
        self.company_of: dict[TokenSource, int] = {}
        self._socket: Any | None = None
        #: the answer awaited to a command sent on the live connection
        self._answer: asyncio.Future[Any] | None = None
        self._commanding = asyncio.Lock()
        #: whether the last handshake subscribed every topic from a stored offset, so that it
        #: replays whatever happened since the last event handled (a topic without one starts
        #: with the events published after it subscribed)
        self.resumed = False
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
                    self._socket = socket
                    self.live.set()
                    failures = 0
                    for message in pending:
                        async for event in self._deliver(message):
                            yield event
                    async for frame in socket:
                        message = json.loads(frame)
                        if isinstance(message, Mapping) and "response" in message:
                            self._answered(message)
                            continue
                        async for event in self._deliver(message):
                            yield event
                # The server closed the connection cleanly: resume like after a drop.
                error = TransientError("the change feed closed the connection", system=SYSTEM)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                error = TransientError(f"change feed connection lost: {exc!r}", system=SYSTEM)
            finally:
                self.live.clear()
                self._socket = None
                if self._answer is not None and not self._answer.done():
                    self._answer.set_exception(
                        FeedDisconnected("the change feed connection ended", system=SYSTEM)
                    )
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

        async def exchange(command: dict[str, Any]) -> Any:
            return await self._command(socket, early, command)

        self.company_of.clear()
        joining = list(self.tenants)
        await self._join(exchange, joining)
        stored = await self.offsets.load()
        self.resumed = all(topic in stored for topic in self.topics)
        topics: list[dict[str, str]] = []
        for topic in self.topics:
            entry = {"topic": topic}
            if topic in stored:
                entry["offset"] = stored[topic]
            topics.append(entry)
        answer = await exchange({"command": "add-topics-v1", "topics": topics})
        if answer.get("invalidTopics"):
            raise ValidationError(
                f"Fortnox's change feed refused topics {answer['invalidTopics']}", system=SYSTEM
            )
        await exchange({"command": "subscribe-v1"})
        # Companies added while this handshake ran: subscribed before anyone counts on it.
        late = [tenant for tenant in self.tenants if tenant not in joining]
        if late:
            await self._join(exchange, late)
        return early

    async def _join(
        self, exchange: Callable[[dict[str, Any]], Awaitable[Any]], tenants: Sequence[TokenSource]
    ) -> None:
        """``add-tenants-v1`` for ``tenants``; a token refused is renewed once.

        Raises:
            AuthExpired: a renewed token was refused too.
        """
        tokens = [await tenant.access_token() for tenant in tenants]
        answer = await exchange(self._add_tenants(tokens))
        self._joined(answer, tenants, tokens)
        invalid = set(answer.get("invalidTokens") or [])
        if not invalid:
            return
        # A token may have expired between fetching and sending: renew those once.
        refused = [t for t, token in zip(tenants, tokens, strict=True) if token in invalid]
        for tenant, token in zip(tenants, tokens, strict=True):
            if token in invalid:
                await tenant.invalidate({"Authorization": f"Bearer {token}"})
        retry_tokens = [await tenant.access_token() for tenant in refused]
        again = await exchange(self._add_tenants(retry_tokens))
        if again.get("invalidTokens"):
            raise AuthExpired(
                "Fortnox's change feed refused a company's access token.", system=SYSTEM
            )
        self._joined(again, refused, retry_tokens)

    def _joined(self, answer: Any, tenants: Sequence[TokenSource], tokens: list[str]) -> None:
        companies = answer.get("tenantIds") or {}
        self.tenant_ids.update(companies)
        for tenant, token in zip(tenants, tokens, strict=True):
            if token in companies:
                self.company_of[tenant] = int(companies[token])

    async def add(self, tenants: Sequence[TokenSource]) -> bool:
        """Follow more companies: at once on the live connection, else from the next connect.

        Returns:
            Whether they are subscribed now (their events flow from here on); false when the
            stream is not live, and the next handshake subscribes them.

        Raises:
            ApiError: a company's token could not be had, or the feed refused it renewed
                (:class:`AuthExpired`); none of ``tenants`` was kept.
        """
        new = [tenant for tenant in tenants if tenant not in self.tenants]
        self.tenants.extend(new)
        if not new:
            return self.live.is_set()
        async with self._commanding:
            if not self.live.is_set():
                return False
            try:
                await self._join(self._live_command, new)
            except FeedDisconnected:
                return False  # the next handshake includes them
            except BaseException:
                self._drop(new)
                raise
        return True

    async def remove(self, tenants: Sequence[TokenSource]) -> None:
        """Stop following these companies (``remove-tenants-v1`` on the live connection)."""
        await self._forget([tenant for tenant in tenants if tenant in self.tenants])

    def _drop(self, tenants: Sequence[TokenSource]) -> list[int]:
        """Forget ``tenants``; the companies of those that were subscribed."""
        for tenant in tenants:
            self.tenants.remove(tenant)
        return [self.company_of.pop(t) for t in tenants if t in self.company_of]

    async def _forget(self, tenants: Sequence[TokenSource]) -> None:
        companies = self._drop(tenants)
        if not companies:
            return
        async with self._commanding:
            if self.live.is_set():
                with contextlib.suppress(FeedDisconnected):  # gone with the connection anyway
                    await self._live_command({"command": "remove-tenants-v1", "tenants": companies})

    async def _live_command(self, command: dict[str, Any]) -> Any:
        """Send ``command`` on the live connection; its answer comes through :meth:`events`.

        Raises:
            FeedDisconnected: the connection ended before the answer came.
        """
        socket = self._socket
        if socket is None:
            raise FeedDisconnected("the change feed is not connected", system=SYSTEM)
        self._answer = asyncio.get_running_loop().create_future()
        try:
            await socket.send(json.dumps(command))
            answer = await asyncio.wait_for(self._answer, COMMAND_PATIENCE)
        except (ConnectionClosed, OSError, TimeoutError) as exc:
            raise FeedDisconnected(f"change feed command failed: {exc!r}", system=SYSTEM) from exc
        finally:
            self._answer = None
        if answer.get("response") != command["command"] or answer.get("result") != "ok":
            raise ValidationError(
                f"Fortnox's change feed refused {command['command']}: {answer}", system=SYSTEM
            )
        return answer

    def _answered(self, message: Mapping[str, Any]) -> None:
        """An answer to a command sent on the live connection."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(message)

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
