"""Decisions of a person: match proposals and manual conflicts."""

from __future__ import annotations

import pytest

from tests.engine.fakes import Systems, customer_spec
from webcrm_fortnox.engine.plan import ActionKind
from webcrm_fortnox.engine.ports import MatchVerdict
from webcrm_fortnox.engine.review import (
    ReviewError,
    propose_matches,
    resolve_conflict,
)
from webcrm_fortnox.engine.sync import sync_entity
from webcrm_fortnox.store import TenantState

SPEC = customer_spec()


async def test_proposals_write_nothing_and_accepted_pairs_are_linked_by_the_next_sync(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme", email="a@acme.se")
    customer = systems.fortnox.add(name="Acme AB", email="a@acme.se")
    lonely = systems.fortnox.add(name="Solo")

    proposal = await propose_matches(SPEC, state, systems.sources)

    assert [(p.webcrm.id, p.fortnox.id, p.key) for p in proposal.pairs] == [
        (org, customer, "e-mail")
    ]
    assert [r.id for r in proposal.fortnox_only] == [lonely]
    assert systems.writes == 0 and await state.match_decisions("customer") == []

    for pair in proposal.pairs:
        await state.save_match_decision(
            "customer", pair.webcrm.id, pair.fortnox.id, MatchVerdict.ACCEPTED, pair.key
        )
    result = await sync_entity(SPEC, state, systems.sources)

    kinds = {(o.action.kind, o.action.key) for o in result.outcomes if o.fortnox_id == customer}
    assert kinds == {(ActionKind.LINK, "decision")}
    assert (await propose_matches(SPEC, state, systems.sources)).pairs == []


async def test_a_rejected_proposal_is_not_proposed_again(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.add(name="Acme", email="a@acme.se")
    systems.fortnox.add(name="Acme AB", email="a@acme.se")
    proposal = await propose_matches(SPEC, state, systems.sources)

    for pair in proposal.pairs:
        await state.save_match_decision(
            "customer", pair.webcrm.id, pair.fortnox.id, MatchVerdict.REJECTED, pair.key
        )

    again = await propose_matches(SPEC, state, systems.sources)
    assert again.pairs == [] and len(again.webcrm_only) == len(again.fortnox_only) == 1


async def test_resolving_a_manual_conflict_writes_the_chosen_value_and_closes_it(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme", email="a@acme.se")
    await sync_entity(SPEC, state, systems.sources)
    (link,) = await state.links("customer")
    systems.webcrm.edit(org, email="w@acme.se")
    systems.fortnox.edit(link.fortnox_id, email="f@acme.se")
    await sync_entity(SPEC, state, systems.sources)
    (conflict,) = await state.conflicts(open_only=True)

    await resolve_conflict(SPEC, state, systems.sources, conflict.id, "fortnox")

    assert systems.webcrm.fields_of(org)["email"] == "f@acme.se"
    assert await state.conflicts(open_only=True) == []
    writes = systems.writes
    quiet = await sync_entity(SPEC, state, systems.sources)
    assert systems.writes == writes and quiet.exit_code == 0
    with pytest.raises(ReviewError, match="no open conflict"):
        await resolve_conflict(SPEC, state, systems.sources, conflict.id, "webcrm")
