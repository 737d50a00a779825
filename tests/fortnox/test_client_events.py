"""The change-event stream against a scripted feed: handshake, resume, repeats, reconnects."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError

from webcrm_fortnox.errors import AuthExpired, TransientError
from webcrm_fortnox.fortnox.events import ChangeEvent, EventStream, MemoryOffsetStore


class Token:
    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.invalidated: list[str] = []

    async def access_token(self) -> str:
        return self.tokens[0]

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        self.invalidated.append(rejected["Authorization"])
        self.tokens.pop(0)


def event(topic: str, offset: int, entity: str = "1", tenant: int = 7) -> dict[str, Any]:
    return {"topic": topic, "offset": str(offset), "type": "customer-updated-v2",
            "tenantId": tenant, "entityId": entity,
            "timestamp": "2024-01-15T12:30:00.250+01:00"}  # fmt: skip


class Feed:
    """Fortnox's side: answers commands, replays from an offset (inclusive), may drop."""

    def __init__(self, events: list[dict[str, Any]], *, valid_tokens: set[str]) -> None:
        self.events = events
        self.valid_tokens = valid_tokens
        self.commands: list[dict[str, Any]] = []
        self.drop_after: list[int | None] = []
        self.repeat_first = False

    @contextlib.asynccontextmanager
    async def connect(self, url: str) -> AsyncIterator[Socket]:
        drop = self.drop_after.pop(0) if self.drop_after else None
        if drop == -1:
            raise OSError("connection refused")
        yield Socket(self, drop)


class Socket:
    def __init__(self, feed: Feed, drop_after: int | None) -> None:
        self.feed = feed
        self.drop_after = drop_after
        self.outbox: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        command = json.loads(text)
        self.feed.commands.append(command)
        name = command["command"]
        if name == "add-tenants-v1":
            tokens = command["accessTokens"]
            valid = {t: 7 for t in tokens if t in self.feed.valid_tokens}
            invalid = [t for t in tokens if t not in self.feed.valid_tokens]
            self.outbox.append({"response": name, "result": "ok", "tenantIds": valid,
                                "invalidTokens": invalid})  # fmt: skip
        elif name == "add-topics-v1":
            self.start = {t["topic"]: int(t.get("offset", 0)) for t in command["topics"]}
            self.outbox.append({"response": name, "result": "ok", "invalidTopics": []})
        elif name == "subscribe-v1":
            replay = [e for e in self.feed.events if int(e["offset"]) >= self.start[e["topic"]]]
            if self.feed.repeat_first and replay:
                replay.insert(1, replay[0])
            # An event may overtake the answer to subscribe; the stream must keep it.
            self.outbox.extend(replay[:1])
            self.outbox.append({"response": name, "result": "ok"})
            self.outbox.extend(replay[1:])

    async def recv(self) -> str:
        return json.dumps(self.outbox.pop(0))

    def __aiter__(self) -> Socket:
        return self

    async def __anext__(self) -> str:
        if self.drop_after is not None:
            if self.drop_after == 0:
                raise ConnectionClosedError(None, None)
            self.drop_after -= 1
        if not self.outbox:
            raise StopAsyncIteration  # the server closed the connection
        return json.dumps(self.outbox.pop(0))


async def no_sleep(_: float) -> None:
    return None


def stream(feed: Feed, store: MemoryOffsetStore, token: Token, **kw: Any) -> EventStream:
    return EventStream(
        "ws://feed.test/topics-v1",
        client_secret="s3cret",
        tenants=[token],
        topics=["customers"],
        offsets=store,
        connect=feed.connect,
        sleep=no_sleep,
        **kw,
    )


async def take(source: AsyncIterator[ChangeEvent], n: int) -> list[ChangeEvent]:
    taken = []
    async for item in source:
        taken.append(item)
        if len(taken) == n:
            break
    return taken


async def test_handshake_then_typed_events() -> None:
    feed = Feed([event("customers", 1, "42")], valid_tokens={"t1"})
    store = MemoryOffsetStore()
    events = await take(stream(feed, store, Token("t1")).events(), 1)
    assert feed.commands == [
        {"command": "add-tenants-v1", "clientSecret": "s3cret", "accessTokens": ["t1"]},
        {"command": "add-topics-v1", "topics": [{"topic": "customers"}]},
        {"command": "subscribe-v1"},
    ]
    (first,) = events
    assert (first.topic, first.offset, first.type, first.tenant_id, first.entity_id) == (
        "customers", "1", "customer-updated-v2", 7, "42",
    )  # fmt: skip
    assert first.timestamp is not None and first.timestamp.utcoffset() is not None


async def test_offset_is_stored_only_after_the_event_was_handled() -> None:
    feed = Feed([event("customers", 1), event("customers", 2)], valid_tokens={"t1"})
    store = MemoryOffsetStore()
    source = stream(feed, store, Token("t1")).events()
    await anext(source)
    assert store.offsets == {}
    await anext(source)
    assert store.offsets == {"customers": "1"}
    await source.aclose()
    assert store.offsets == {"customers": "1"}  # event 2 was not confirmed handled


async def test_resumes_from_stored_offsets_and_drops_the_replayed_repeat() -> None:
    feed = Feed([event("customers", n) for n in range(1, 6)], valid_tokens={"t1"})
    feed.drop_after = [3, None]  # the first connection dies after events 1 (early), 2, 3 and 4
    store = MemoryOffsetStore()
    es = stream(feed, store, Token("t1"))
    offsets = [e.offset for e in await take(es.events(), 5)]
    assert offsets == ["1", "2", "3", "4", "5"]
    assert es.connections == 2
    resumed = feed.commands[4]
    assert resumed == {
        "command": "add-topics-v1",
        "topics": [{"topic": "customers", "offset": "4"}],
    }
    assert es.duplicates_dropped == 1  # the replay starts with the handled event 4


async def test_a_restarted_stream_starts_at_the_stored_offset() -> None:
    feed = Feed([event("customers", n) for n in range(1, 4)], valid_tokens={"t1"})
    store = MemoryOffsetStore({"customers": "2"})
    offsets = [e.offset for e in await take(stream(feed, store, Token("t1")).events(), 2)]
    assert offsets == ["2", "3"]
    assert feed.commands[1]["topics"] == [{"topic": "customers", "offset": "2"}]


async def test_repeated_events_are_delivered_once() -> None:
    feed = Feed([event("customers", 1), event("customers", 2)], valid_tokens={"t1"})
    feed.repeat_first = True
    es = stream(feed, MemoryOffsetStore(), Token("t1"))
    assert [e.offset for e in await take(es.events(), 2)] == ["1", "2"]
    assert es.duplicates_dropped == 1


async def test_refused_token_is_renewed_once() -> None:
    feed = Feed([event("customers", 1)], valid_tokens={"fresh"})
    token = Token("stale", "fresh")
    es = stream(feed, MemoryOffsetStore(), token)
    assert len(await take(es.events(), 1)) == 1
    assert token.invalidated == ["Bearer stale"]
    assert feed.commands[1]["accessTokens"] == ["fresh"]
    assert es.tenant_ids == {"fresh": 7}


async def test_token_refused_twice_is_raised() -> None:
    feed = Feed([], valid_tokens=set())
    with pytest.raises(AuthExpired):
        await take(stream(feed, MemoryOffsetStore(), Token("a", "b")).events(), 1)


async def test_gives_up_after_max_reconnects() -> None:
    feed = Feed([], valid_tokens={"t1"})
    feed.drop_after = [-1, -1, -1]
    with pytest.raises(TransientError):
        await take(stream(feed, MemoryOffsetStore(), Token("t1"), max_reconnects=2).events(), 1)


async def test_live_while_subscribed_only() -> None:
    feed = Feed([event("customers", 1), event("customers", 2)], valid_tokens={"t1"})
    es = stream(feed, MemoryOffsetStore(), Token("t1"))
    assert not es.live.is_set()
    source = es.events()
    await anext(source)
    assert es.live.is_set()
    await source.aclose()
    assert not es.live.is_set()
