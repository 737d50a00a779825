"""Write-backs after creates run beside the next creates, and are all stored before the run ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.engine.fakes import Systems, customer_spec
from webcrm_fortnox.engine.ports import Fields, SourceRecord
from webcrm_fortnox.engine.sync import sync_entity
from webcrm_fortnox.store import TenantState

SPEC = customer_spec()


def creates_seen(systems: Systems, count: int, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set once Fortnox has been asked for ``count`` creates."""
    seen = asyncio.Event()
    create = systems.fortnox.create

    async def counted(fields: Fields, idempotency_key: str) -> SourceRecord:
        record = await create(fields, idempotency_key)
        if systems.fortnox.calls.creates >= count:
            seen.set()
        return record

    monkeypatch.setattr(systems.fortnox, "create", counted)
    return seen


async def test_creates_go_on_while_write_backs_wait(
    systems: Systems, state: TenantState, monkeypatch: pytest.MonkeyPatch
) -> None:
    orgs = [systems.webcrm.add(name=f"Org {n}") for n in range(3)]
    gate = asyncio.Event()
    write_back = systems.webcrm.update

    async def slow_write_back(id: str, changes: Fields, current: SourceRecord) -> Any:
        await gate.wait()  # webCRM is slow (its rate limit): Fortnox must not wait for it
        return await write_back(id, changes, current)

    monkeypatch.setattr(systems.webcrm, "update", slow_write_back)
    created = creates_seen(systems, len(orgs), monkeypatch)
    run = asyncio.create_task(sync_entity(SPEC, state, systems.sources))
    async with asyncio.timeout(10):
        await created.wait()
    assert not run.done()  # the run waits for its write-backs before it ends
    gate.set()
    result = await run

    assert result.exit_code == 0
    numbers = {link.webcrm_id: link.fortnox_id for link in await state.links("customer")}
    for org in orgs:
        assert systems.webcrm.fields_of(org)["number"] == numbers[org]
    # Stored with the written fields: a second run writes nothing.
    writes = systems.webcrm.calls.writes
    await sync_entity(SPEC, state, systems.sources)
    assert systems.webcrm.calls.writes == writes


async def test_a_run_stopped_with_write_backs_queued_sends_them_next_time(
    systems: Systems, state: TenantState, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = systems.webcrm.add(name="Acme AB")
    write_back = systems.webcrm.update

    async def never(id: str, changes: Fields, current: SourceRecord) -> Any:
        await asyncio.Event().wait()

    monkeypatch.setattr(systems.webcrm, "update", never)
    created = creates_seen(systems, 1, monkeypatch)
    run = asyncio.create_task(sync_entity(SPEC, state, systems.sources))
    async with asyncio.timeout(10):
        await created.wait()
    run.cancel()  # the process stops while the write-back waits
    with pytest.raises(asyncio.CancelledError):
        await run

    monkeypatch.setattr(systems.webcrm, "update", write_back)
    await sync_entity(SPEC, state, systems.sources)
    (link,) = await state.links("customer")
    assert systems.webcrm.fields_of(org)["number"] == link.fortnox_id
    assert systems.fortnox.calls.creates == 1
