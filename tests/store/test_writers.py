"""Many tenants writing to one state store at once: none fails, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.store.backends import BACKENDS, open_database, second_connection
from webcrm_fortnox.store import StateDatabase, database
from webcrm_fortnox.store.service import ServiceStore


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for opened in open_database(request.param, tmp_path):
        yield opened


@pytest.fixture(params=BACKENDS)
async def impatient_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StateDatabase]:
    """A store whose SQLite connections wait only 100 ms for another writer's lock."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)
    async for opened in open_database(request.param, tmp_path):
        yield opened


async def test_writers_wait_their_turn_behind_a_long_transaction(
    impatient_db: StateDatabase,
) -> None:
    """A writer of this process never needs SQLite's busy timeout: it waits its turn."""
    db = impatient_db
    store = ServiceStore(db)
    holding = asyncio.Event()

    async def long_transaction() -> None:
        async with db.begin() as conn:
            await conn.exec_driver_sql("UPDATE service_state SET value = value")
            holding.set()
            await asyncio.sleep(0.5)  # five times SQLite's busy timeout

    async def tenant(n: int) -> None:
        await holding.wait()
        state = db.tenant(f"tenant {n}")
        for k in range(3):
            await store.put(state.tenant, "next_cycle_at", f"2026-12-02T12:0{k}:00+00:00")
            await state.set_cursor("webcrm", "customer", f"cursor {k}")
            await state.save_link("customer", str(k), f"F{k}", {"name": f"Kund {k}"})

    await asyncio.gather(long_transaction(), *(tenant(n) for n in range(40)))

    for n in range(40):
        state = db.tenant(f"tenant {n}")
        assert await store.get(state.tenant, "next_cycle_at") == "2026-12-02T12:02:00+00:00"
        assert await state.cursor("webcrm", "customer") == "cursor 2"
        assert [link.fortnox_id for link in await state.links("customer")] == ["F0", "F1", "F2"]


async def test_two_processes_storing_the_same_new_rows_at_once_both_succeed(
    db: StateDatabase,
) -> None:
    """Each upsert is one statement: neither store's insert finds the other's row in its way."""
    other = await second_connection(db)
    try:
        stores = [ServiceStore(db), ServiceStore(other)]

        async def write(n: int) -> None:
            store = stores[n % 2]
            await store.put("acme", f"key {n // 2}", n)
            await store.db.tenant("acme").set_cursor("fortnox", f"entity {n // 2}", str(n))

        await asyncio.gather(*(write(n) for n in range(40)))
    finally:
        await other.close()
    values = await ServiceStore(db).values("acme")
    assert sorted(values) == sorted(f"key {k}" for k in range(20))
    for k in range(20):
        assert values[f"key {k}"] in (2 * k, 2 * k + 1)
        assert await db.tenant("acme").cursor("fortnox", f"entity {k}") in (
            str(2 * k),
            str(2 * k + 1),
        )
