"""The change feed's state in the store (SQLite and, when configured, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.feed import HEARTBEAT, STALE_AFTER, FeedStore


class ManualClock:
    """The state store's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
async def feed(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[FeedStore]:
    async for database in open_database(request.param, tmp_path, clock=clock):
        yield FeedStore(database)


async def test_an_announcement_stays_until_a_completed_sync_read_it(feed: FeedStore) -> None:
    await feed.announce("acme", "customers", "17")
    await feed.announce("acme", "customers", "17")  # repeats collapse into one record
    await feed.announce("acme", "invoices", "3")
    await feed.announce("other", "customers", "99")
    snapshot = await feed.snapshot("acme")
    assert snapshot.announced == {"customers": {"17"}, "invoices": {"3"}}
    # Announced again while the sync that read it runs: the next sync must read it again.
    await feed.announce("acme", "customers", "17")
    await feed.settle("acme", snapshot, listed=False)
    assert (await feed.snapshot("acme")).announced == {"customers": {"17"}}
    assert (await feed.snapshot("other")).announced == {"customers": {"99"}}
    await feed.settle("acme", await feed.snapshot("acme"), listed=False)
    assert (await feed.snapshot("acme")).announced == {}


async def test_the_feed_vouches_once_a_listing_ran_in_the_tenants_epoch(feed: FeedStore) -> None:
    assert not (await feed.snapshot("acme")).vouched  # never subscribed
    await feed.connection("client", live=True)
    await feed.joined("acme", "client")
    before = await feed.snapshot("acme")
    assert before.live and not before.vouched
    await feed.settle("acme", before, listed=False)  # read announcements only: no cover
    assert not (await feed.snapshot("acme")).vouched
    await feed.settle("acme", before, listed=True)
    assert (await feed.snapshot("acme")).vouched

    # The connection drops: nothing is announced meanwhile, so syncs list again...
    await feed.connection("client", live=False)
    assert not (await feed.snapshot("acme")).vouched
    # ... until it resubscribes from the stored offsets, which replays the gap.
    assert await feed.resumed("acme", "client")
    await feed.connection("client", live=True)
    assert (await feed.snapshot("acme")).vouched

    # Out of the subscription and in again: what changed meanwhile was never announced.
    await feed.left("acme")
    assert not (await feed.snapshot("acme")).vouched
    assert not await feed.resumed("acme", "client")
    await feed.joined("acme", "client")
    assert not (await feed.snapshot("acme")).vouched
    await feed.settle("acme", before, listed=True)  # a listing from the old epoch covers nothing
    assert not (await feed.snapshot("acme")).vouched
    await feed.settle("acme", await feed.snapshot("acme"), listed=True)
    assert (await feed.snapshot("acme")).vouched


async def test_a_connection_whose_process_stopped_beating_counts_as_lost(
    feed: FeedStore, clock: ManualClock
) -> None:
    await feed.connection("client", live=True)
    await feed.joined("acme", "client")
    await feed.settle("acme", await feed.snapshot("acme"), listed=True)
    for _ in range(5):  # alive: it beats, however long it runs
        clock.now += timedelta(seconds=HEARTBEAT)
        await feed.beat("client")
        assert (await feed.snapshot("acme")).vouched
    clock.now += STALE_AFTER + timedelta(seconds=1)  # killed: no beat since
    assert not (await feed.snapshot("acme")).vouched


async def test_the_connection_generation_counts_subscriptions(feed: FeedStore) -> None:
    assert await feed.generation("client") is None
    assert await feed.connection("client", live=True) == 1
    assert await feed.connection("client", live=False) == 1
    assert await feed.generation("client") == (1, False)
    assert await feed.connection("client", live=True) == 2
    assert await feed.generation("client") == (2, True)


async def test_the_state_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    async with await StateDatabase.open(url) as db:
        store = FeedStore(db)
        await store.connection("client", live=True)
        await store.joined("acme", "client")
        await store.settle("acme", await store.snapshot("acme"), listed=True)
        await store.announce("acme", "orders", "5")
    # Killed without a word: the next service starts with the connection down.
    async with await StateDatabase.open(url) as db:
        store = FeedStore(db)
        await store.connection("client", live=False)
        snapshot = await store.snapshot("acme")
        assert snapshot.announced == {"orders": {"5"}}
        assert not snapshot.vouched
        assert await store.resumed("acme", "client")
        await store.connection("client", live=True)
        assert (await store.snapshot("acme")).vouched
