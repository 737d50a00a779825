"""Records a change feed shows again without a change cost no request for their partner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.engine.fakes import FakeSystem, Systems, customer_spec
from webcrm_fortnox.engine.ports import SourceRecord
from webcrm_fortnox.engine.sync import RunResult, sync_entity
from webcrm_fortnox.store import TenantState

SPEC = customer_spec()


async def run(systems: Systems, state: TenantState) -> RunResult:
    return await sync_entity(SPEC, state, systems.sources)


def count_gets(monkeypatch: pytest.MonkeyPatch, system: FakeSystem) -> list[str]:
    """Ids the engine reads one by one from ``system`` from now on."""
    asked: list[str] = []
    real: Callable[[str], Awaitable[SourceRecord | None]] = system.get

    async def get(id: str) -> SourceRecord | None:
        asked.append(id)
        return await real(id)

    monkeypatch.setattr(system, "get", get)
    return asked


async def linked(systems: Systems, state: TenantState) -> tuple[str, str]:
    """A pair synced and settled (the number written back has been read again)."""
    org = systems.webcrm.add(name="Acme AB", phone="1", city="Lund")
    await run(systems, state)
    await run(systems, state)
    link = await state.link_for("customer", "webcrm", org)
    assert link is not None
    return org, link.fortnox_id


@pytest.mark.parametrize("reread", ["webcrm", "fortnox"])
async def test_a_reread_record_holding_the_base_does_not_read_its_partner(
    systems: Systems, state: TenantState, monkeypatch: pytest.MonkeyPatch, reread: str
) -> None:
    # webCRM timestamps before the pair's last sync: what an overlap window re-reads.
    systems.webcrm.now = datetime.now(UTC) - timedelta(days=1)
    await linked(systems, state)
    # Only one side's feed shows the record again.
    systems.webcrm.overlap = 10 if reread == "webcrm" else 0
    systems.fortnox.overlap = 10 if reread == "fortnox" else 0
    webcrm_gets = count_gets(monkeypatch, systems.webcrm)
    fortnox_gets = count_gets(monkeypatch, systems.fortnox)

    result = await run(systems, state)

    assert result.outcomes == []
    assert webcrm_gets == [] and fortnox_gets == []


async def test_a_changed_partner_still_syncs_when_the_other_side_is_reread(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.now = datetime.now(UTC) - timedelta(days=1)
    systems.webcrm.overlap = systems.fortnox.overlap = 10
    org, number = await linked(systems, state)
    systems.fortnox.edit(number, phone="2")

    await run(systems, state)

    assert systems.webcrm.fields_of(org)["phone"] == "2"


async def test_a_record_made_eligible_again_reads_changes_its_partner_made_meanwhile(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.now = datetime.now(UTC) - timedelta(days=1)
    org, number = await linked(systems, state)
    systems.webcrm.overlap = systems.fortnox.overlap = 0
    systems.webcrm.set_type(org, "Former customer")
    systems.fortnox.edit(number, phone="2")
    await run(systems, state)  # excluded: the phone stays in Fortnox
    await run(systems, state)  # the Fortnox change has left Fortnox's feed
    assert systems.webcrm.fields_of(org)["phone"] == "1"

    # Only the Type changes, now, after the pair's last sync; the fields still hold the base.
    systems.webcrm.now = datetime.now(UTC) + timedelta(days=1)
    systems.webcrm.set_type(org, "Customer")
    await run(systems, state)

    assert systems.webcrm.fields_of(org)["phone"] == "2"
