"""The StateStore contract, run against SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.engine.ports import (
    ConflictReport,
    ErrorKind,
    ErrorReport,
    IntentState,
    MatchVerdict,
    Policy,
    StateStore,
)
from webcrm_fortnox.store import StateDatabase


class SteppingClock:
    """A clock that moves one second per reading, so ordering by time is observable."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path, clock=SteppingClock()):
        yield database


@pytest.fixture
def state(db: StateDatabase) -> StateStore:
    return db.tenant("acme")


async def test_a_saved_link_is_found_from_either_side_with_its_base(state: StateStore) -> None:
    base = {"name": "Acme AB", "credit": Decimal("0.10"), "private": False, "fax": None}
    saved = await state.save_link("customer", "17", "1001", base)

    by_webcrm = await state.link_for("customer", "webcrm", "17")
    by_fortnox = await state.link_for("customer", "fortnox", "1001")

    assert by_webcrm == by_fortnox == saved
    assert saved.base == base
    assert isinstance(saved.base["credit"], Decimal)  # exact, not 0.1 as a float
    assert saved.updated_at.tzinfo is not None
    assert await state.link_for("customer", "webcrm", "1001") is None
    assert await state.link_for("article", "webcrm", "17") is None


async def test_saving_a_link_again_replaces_its_base(state: StateStore) -> None:
    first = await state.save_link("customer", "17", "1001", {"name": "Old"})
    second = await state.save_link("customer", "17", "1001", {"name": "New"})

    assert second.id == first.id
    assert [link.base for link in await state.links("customer")] == [{"name": "New"}]


async def test_a_record_is_linked_to_one_partner_only(state: StateStore) -> None:
    await state.save_link("customer", "17", "1001", {})
    await state.save_link("customer", "18", "1002", {})

    await state.save_link("customer", "17", "1002", {})

    pairs = [(link.webcrm_id, link.fortnox_id) for link in await state.links("customer")]
    assert pairs == [("17", "1002")]


async def test_unlink_forgets_the_pair_and_closes_its_open_conflicts(state: StateStore) -> None:
    conflict = ConflictReport("phone", "1", "2", "0", Policy.MANUAL, None)
    link = await state.save_link("customer", "17", "1001", {}, conflicts=[conflict])

    await state.unlink("customer", link.id)

    assert await state.links("customer") == []
    assert await state.conflicts(open_only=True) == []
    assert len(await state.conflicts()) == 1


async def test_tenants_never_see_each_other(db: StateDatabase) -> None:
    acme, globex = db.tenant("acme"), db.tenant("globex")
    await acme.save_link("customer", "17", "1001", {"name": "Acme"})
    await acme.set_cursor("webcrm", "customer", "c1")
    await acme.record_error(ErrorReport("customer", "webcrm", "17", "bad"))
    await acme.start_run("incremental")

    await globex.save_link("customer", "17", "1001", {"name": "Globex"})

    assert [link.base for link in await acme.links("customer")] == [{"name": "Acme"}]
    assert await globex.cursor("webcrm", "customer") is None
    assert await globex.open_errors() == []
    assert await globex.runs() == []


async def test_cursors_start_empty_and_keep_the_last_value(state: StateStore) -> None:
    assert await state.cursor("fortnox", "customer") is None

    await state.set_cursor("fortnox", "customer", "2026-03-01 12:00")
    await state.set_cursor("fortnox", "customer", "2026-03-01 12:06")
    await state.set_cursor("webcrm", "customer", "w")

    assert await state.cursor("fortnox", "customer") == "2026-03-01 12:06"
    assert await state.cursor("webcrm", "customer") == "w"
    await state.set_cursor("fortnox", "customer", None)
    assert await state.cursor("fortnox", "customer") is None


async def test_a_run_ends_with_the_cursors_it_moved(state: StateStore) -> None:
    await state.set_cursor("webcrm", "customer", "w1")
    run = await state.start_run("incremental", "customer")

    await state.finish_run(
        run, "completed", {}, entity="customer", cursors={"webcrm": "w2", "fortnox": "f2"}
    )

    assert await state.cursor("webcrm", "customer") == "w2"
    assert await state.cursor("fortnox", "customer") == "f2"
    assert (await state.runs())[0].status == "completed"
    with pytest.raises(ValueError, match="name it"):
        await state.finish_run(run, "completed", {}, cursors={"webcrm": "w3"})
    assert await state.cursor("webcrm", "customer") == "w2"


async def test_an_intent_stays_pending_until_its_link_is_saved(state: StateStore) -> None:
    intent = await state.add_intent("customer", "fortnox", "17", "17", {"name": "Acme"})
    other = await state.add_intent("customer", "webcrm", "1002", "1002", {"price": Decimal("2")})

    assert [i.key for i in await state.pending_intents("customer")] == ["17", "1002"]
    assert (await state.pending_intents("customer"))[1].payload == {"price": Decimal("2")}
    assert intent.state is IntentState.PENDING

    await state.save_link("customer", "17", "1001", {"name": "Acme"}, intent_id=intent.id)
    assert [i.id for i in await state.pending_intents("customer")] == [other.id]

    await state.finish_intent(other.id, IntentState.FAILED)
    assert await state.pending_intents("customer") == []


async def test_a_repeated_error_counts_attempts_and_keeps_the_latest_reason(
    state: StateStore,
) -> None:
    report = ErrorReport(
        "customer",
        "webcrm",
        "17",
        "The VAT number is not valid.",
        field="vat_number",
        vendor_code="2000359",
        vendor_message="Ogiltigt momsregistreringsnummer",
    )
    first = await state.record_error(report)
    again = await state.record_error(
        ErrorReport("customer", "webcrm", "17", "Still not valid.", field="vat_number")
    )

    assert again.id == first.id
    assert again.attempts == 2
    assert again.reason == "Still not valid."
    assert again.first_seen == first.first_seen < again.last_seen
    assert [e.record_id for e in await state.open_errors("customer")] == ["17"]
    assert await state.open_errors("article") == []


async def test_errors_close_when_the_record_syncs_or_is_resolved(state: StateStore) -> None:
    await state.record_error(ErrorReport("customer", "webcrm", "17", "bad"))
    await state.record_error(ErrorReport("customer", "fortnox", "1001", "bad"))
    await state.record_error(ErrorReport("customer", "fortnox", "1002", "bad"))

    await state.save_link("customer", "17", "1001", {})
    await state.resolve_errors("customer", "fortnox", "1002")

    assert await state.open_errors() == []
    fresh = await state.record_error(ErrorReport("customer", "webcrm", "17", "bad again"))
    assert fresh.attempts == 1


async def test_conflicts_keep_both_values_the_base_and_the_outcome(state: StateStore) -> None:
    settled = ConflictReport("name", "A", "B", "base", Policy.FORTNOX, "fortnox")
    manual = ConflictReport("credit", Decimal("1.5"), None, Decimal("1"), Policy.MANUAL, None)
    link = await state.save_link("customer", "17", "1001", {}, conflicts=[settled])
    await state.add_conflicts("customer", link, [manual])

    everything = await state.conflicts("customer")
    still_open = await state.conflicts(open_only=True)

    assert [c.report for c in everything] == [settled, manual]
    assert everything[0].resolved_at is not None
    assert [(c.webcrm_id, c.fortnox_id, c.link_id) for c in still_open] == [("17", "1001", link.id)]

    await state.resolve_conflict(still_open[0].id, "webcrm")
    assert await state.conflicts(open_only=True) == []
    assert (await state.conflicts())[1].report.resolution == "webcrm"


async def test_a_conflict_on_a_field_closes_the_open_ones_of_that_field_of_the_pair(
    state: StateStore,
) -> None:
    first = ConflictReport("email", "a@x.se", "b@x.se", None, Policy.MANUAL, None)
    other_field = ConflictReport("city", "Lund", "Umeå", None, Policy.MANUAL, None)
    link = await state.save_link("customer", "17", "1001", {}, conflicts=[first, other_field])
    other_pair = await state.save_link("customer", "18", "1002", {}, conflicts=[first])

    later = ConflictReport("email", "c@x.se", "d@x.se", None, Policy.MANUAL, None)
    await state.add_conflicts("customer", link, [later])

    still_open = await state.conflicts(open_only=True)
    assert [(c.link_id, c.report) for c in still_open] == [
        (link.id, other_field),
        (other_pair.id, first),
        (link.id, later),
    ]
    # The superseded one keeps its values on record, closed without a resolution.
    [superseded] = [c for c in await state.conflicts() if c.resolved_at is not None]
    assert (superseded.link_id, superseded.report) == (link.id, first)


async def test_a_later_match_decision_replaces_an_earlier_one(state: StateStore) -> None:
    await state.save_match_decision("customer", "17", "1001", MatchVerdict.ACCEPTED, "name")
    await state.save_match_decision("customer", "18", "1002", MatchVerdict.ACCEPTED, "vat")
    await state.save_match_decision("customer", "17", "1001", MatchVerdict.REJECTED, "manual")

    decisions = {(d.webcrm_id, d.fortnox_id): d for d in await state.match_decisions("customer")}

    assert decisions.keys() == {("17", "1001"), ("18", "1002")}
    assert decisions["17", "1001"].verdict is MatchVerdict.REJECTED
    assert decisions["17", "1001"].key == "manual"


async def test_the_run_log_lists_runs_newest_first_with_counts(state: StateStore) -> None:
    first = await state.start_run("full", "customer")
    await state.finish_run(first, "ok", {"created": 2, "updated": 1})
    second = await state.start_run("incremental")

    runs = await state.runs()

    assert [r.id for r in runs] == [second, first]
    assert [r.entity for r in runs] == [None, "customer"]
    assert runs[0].status == "running" and runs[0].finished_at is None
    assert runs[1].counts == {"created": 2, "updated": 1}
    assert runs[1].finished_at is not None and runs[1].finished_at > runs[1].started_at
    assert [r.id for r in await state.runs(limit=1)] == [second]


async def test_a_partly_synced_pair_keeps_its_errors_open(state: StateStore) -> None:
    await state.record_error(ErrorReport("customer", "webcrm", "17", "Fortnox refused it"))

    await state.save_link("customer", "17", "1001", {}, resolve_errors=False)

    assert [e.record_id for e in await state.open_errors()] == ["17"]


async def test_an_error_keeps_its_kind_and_a_repeat_takes_the_new_one(state: StateStore) -> None:
    first = await state.record_error(ErrorReport("customer", "webcrm", "17", "odd"))
    again = await state.record_error(
        ErrorReport("customer", "webcrm", "17", "ambiguous", kind=ErrorKind.AMBIGUOUS)
    )

    assert first.kind is ErrorKind.FAILURE
    assert again.kind is ErrorKind.AMBIGUOUS
    assert (await state.open_errors())[0].kind is ErrorKind.AMBIGUOUS
