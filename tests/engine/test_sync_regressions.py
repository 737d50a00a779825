"""Minimal cases the customer state machine (``test_sync_machine``) once failed on."""

from __future__ import annotations

from tests.engine.fakes import Systems
from tests.engine.test_sync_machine import SETTLED, SPEC
from webcrm_fortnox.engine.sync import RunResult, sync_entity
from webcrm_fortnox.store import TenantState


async def _sync(systems: Systems, state: TenantState) -> RunResult:
    return await sync_entity(SPEC, state, systems.sources, create_settle=SETTLED)


async def test_a_manual_conflict_back_on_values_of_an_earlier_one_is_recorded_again(
    systems: Systems, state: TenantState
) -> None:
    customer = systems.webcrm.add(name="Acme")
    await _sync(systems, state)
    [link] = await state.links("customer")

    # e-mail's policy is manual: each two-sided change waits for a person.
    for webcrm_email, fortnox_email in [("a@x.se", "b@x.se"), ("c@x.se", "d@x.se")]:
        systems.webcrm.edit(customer, email=webcrm_email)
        systems.fortnox.edit(link.fortnox_id, email=fortnox_email)
        await _sync(systems, state)
    # Both sides go back to what they held first: a change on both sides again, not the first
    # conflict still standing (the field held other values in between).
    systems.webcrm.edit(customer, email="a@x.se")
    systems.fortnox.edit(link.fortnox_id, email="b@x.se")
    await _sync(systems, state)

    conflicts = await state.conflicts("customer")
    assert [(c.report.webcrm_value, c.report.fortnox_value) for c in conflicts] == [
        ("a@x.se", "b@x.se"),
        ("c@x.se", "d@x.se"),
        ("a@x.se", "b@x.se"),
    ]
    # Only the newest waits for a decision; the ones before it name values no longer there.
    assert [c.resolved_at is None for c in conflicts] == [False, False, True]
    assert [c.report.resolution for c in conflicts] == [None, None, None]
    assert systems.webcrm.fields_of(customer)["email"] == "a@x.se"
    assert systems.fortnox.fields_of(link.fortnox_id)["email"] == "b@x.se"

    # It stays the one conflict standing: the next run records nothing more.
    await _sync(systems, state)
    assert len(await state.conflicts("customer")) == 3
