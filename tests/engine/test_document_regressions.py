"""Minimal cases the document state machine (``test_document_machine``) once failed on."""

from __future__ import annotations

from tests.engine.fakes import FakeSystem, Systems
from tests.engine.test_document_machine import ENTITY, FIELDS, SPEC, FortnoxDocuments
from tests.engine.test_sync_machine import SETTLED
from webcrm_fortnox.domain.line import NO_LINES, Line, encode_lines
from webcrm_fortnox.engine.sync import RunResult, sync_entity
from webcrm_fortnox.errors import TransientError
from webcrm_fortnox.store import TenantState

LINES = encode_lines(
    [Line.of(article="101", description="Hammer", quantity=2, price=10, discount=0, vat=25)]
)


def _documents() -> Systems:
    return Systems(
        webcrm=FakeSystem("webcrm", ENTITY, timestamps=True, fields=FIELDS),
        fortnox=FortnoxDocuments(),
    )


async def _sync(systems: Systems, state: TenantState) -> RunResult:
    return await sync_entity(SPEC, state, systems.sources, create_settle=SETTLED)


async def _lines_removed_after_a_lost_create(systems: Systems, state: TenantState) -> str:
    """A delivery is created in Fortnox, the answer is lost, and a person removes every line
    of the new document before the create is looked up; returns the delivery's id."""
    delivery = systems.webcrm.add(customer="1", order_date="2026-03-01", lines=LINES)
    systems.fortnox.faults.lose_create_answer_once = True
    await _sync(systems, state)
    (number,) = systems.fortnox.rows  # created whole; its answer was lost
    systems.fortnox.edit(number, lines=NO_LINES)
    return delivery


async def test_lines_removed_before_a_lost_create_is_looked_up_are_recorded(
    state: TenantState,
) -> None:
    systems = _documents()
    delivery = await _lines_removed_after_a_lost_create(systems, state)

    # The document looks like a delivery whose lines were never written: finishing it
    # overwrites the removal, which is then recorded, not dropped without a trace.
    await _sync(systems, state)

    [link] = await state.links(ENTITY)
    assert link.webcrm_id == delivery
    assert systems.webcrm.fields_of(delivery)["lines"] == LINES
    assert systems.fortnox.fields_of(link.fortnox_id)["lines"] == LINES
    [conflict] = await state.conflicts(ENTITY)
    assert conflict.link_id == link.id
    assert conflict.report.field == "lines"
    assert (conflict.report.webcrm_value, conflict.report.fortnox_value) == (LINES, NO_LINES)
    assert conflict.report.resolution == "webcrm"


async def test_a_finishing_write_that_fails_is_sent_again_not_carried_back(
    state: TenantState,
) -> None:
    systems = _documents()
    delivery = await _lines_removed_after_a_lost_create(systems, state)
    systems.fortnox.faults.write_error = TransientError("reset", system="fortnox")
    await _sync(systems, state)  # linked, the conflict stored; the lines not written
    [link] = await state.links(ENTITY)
    assert systems.fortnox.fields_of(link.fortnox_id)["lines"] == NO_LINES
    assert len(await state.conflicts(ENTITY)) == 1

    systems.fortnox.faults.write_error = None
    await _sync(systems, state)

    # What was sent is written then; the lines left out are not taken for a removal.
    assert systems.fortnox.fields_of(link.fortnox_id)["lines"] == LINES
    assert systems.webcrm.fields_of(delivery)["lines"] == LINES
    assert len(await state.conflicts(ENTITY)) == 1
