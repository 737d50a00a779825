"""Actions applying themselves, over two fake systems and a real state store."""

from __future__ import annotations

from tests.engine.fakes import Systems, customer_spec
from webcrm_fortnox.engine.actions import ActionKind, RecordStatus
from webcrm_fortnox.engine.ports import SourceRecord
from webcrm_fortnox.engine.sync import RunStatus, sync_entity
from webcrm_fortnox.errors import ValidationError
from webcrm_fortnox.store import TenantState

SPEC = customer_spec()


async def test_a_pair_linked_while_its_webcrm_record_is_not_eligible_is_stored_held(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.add(name="Acme", email="a@acme.se", type="Prospect")
    systems.fortnox.add(name="Acme AB", email="a@acme.se")

    result = await sync_entity(SPEC, state, systems.sources)

    assert [o.action.kind for o in result.outcomes] == [ActionKind.LINK]
    (link,) = await state.links("customer")
    # Held, its records are read on every run rather than taken from the base.
    assert link.held
    assert link.base == {}


async def test_a_lookup_before_a_create_that_fails_is_that_record_s_error_and_the_run_goes_on(
    systems: Systems, state: TenantState
) -> None:
    await sync_entity(SPEC, state, systems.sources)  # the cursors: the next run is partial
    refused = systems.webcrm.add(name="Acme AB")
    created = systems.webcrm.add(name="Beta AB")
    real_lookup = systems.fortnox.find_by_key

    async def lookup(key: str) -> SourceRecord | None:
        if key == refused:
            raise ValidationError("the query was refused", system="fortnox", status=400)
        return await real_lookup(key)

    systems.fortnox.find_by_key = lookup  # type: ignore[method-assign]

    result = await sync_entity(SPEC, state, systems.sources)

    assert result.status is RunStatus.COMPLETED
    assert [(o.status, o.webcrm_id) for o in result.outcomes] == [
        (RecordStatus.FAILED, refused),
        (RecordStatus.SYNCED, created),
    ]
    assert created in {link.webcrm_id for link in await state.links("customer")}
    (error,) = await state.open_errors("customer")
    assert (error.system, error.record_id) == ("webcrm", refused)
    assert "Fortnox refused it: the query was refused" in error.reason
