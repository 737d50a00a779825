"""Whole runs of the engine over two fake systems and a real state store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.engine.fakes import Systems, customer_spec
from webcrm_fortnox.engine.apply import CREATE_SETTLE, RecordStatus
from webcrm_fortnox.engine.plan import ActionKind, Mode
from webcrm_fortnox.engine.ports import (
    ConflictReport,
    Direction,
    EntitySpec,
    FieldRule,
    Link,
    MatchVerdict,
    Policy,
)
from webcrm_fortnox.engine.sync import RunResult, RunStatus, sync_entity
from webcrm_fortnox.errors import (
    NoAnswer,
    ReconnectNeeded,
    TransientError,
    ValidationError,
)
from webcrm_fortnox.store import TenantState

SPEC = customer_spec()


async def run(
    systems: Systems, state: TenantState, spec: EntitySpec = SPEC, **kw: Any
) -> RunResult:
    return await sync_entity(spec, state, systems.sources, **kw)


def statuses(result: RunResult) -> list[tuple[str, str | None, str | None]]:
    return [(o.status.value, o.webcrm_id, o.fortnox_id) for o in result.outcomes]


async def pairs(state: TenantState) -> set[tuple[str, str]]:
    return {(link.webcrm_id, link.fortnox_id) for link in await state.links("customer")}


async def test_a_first_sync_creates_both_ways_and_writes_the_number_back(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme AB", phone="08-1", city="Lund")
    cust = systems.fortnox.add(name="Beta AB", city="Malmö")

    result = await run(systems, state)

    assert result.exit_code == 0
    assert {o.action.kind for o in result.outcomes} == {ActionKind.CREATE}
    links = await pairs(state)
    assert len(links) == 2
    (acme_number,) = [f for w, f in links if w == org]
    # Fortnox assigned the number; it is written back to webCRM at once.
    assert systems.webcrm.fields_of(org)["number"] == acme_number
    assert systems.fortnox.fields_of(acme_number)["name"] == "Acme AB"
    (beta_org,) = [w for w, f in links if f == cust]
    assert systems.webcrm.fields_of(beta_org) == systems.fortnox.fields_of(cust)
    assert systems.webcrm.rows[beta_org].type == "Customer"
    assert await state.pending_intents("customer") == []


async def test_a_sync_right_after_a_sync_writes_nothing(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.add(name="Acme AB", phone="08-1")
    systems.fortnox.add(name="Beta AB")
    await run(systems, state)
    org = systems.webcrm.add(name="Gamma AB")
    await run(systems, state)
    systems.webcrm.edit(org, phone="040-2")
    await run(systems, state)
    writes = systems.writes

    again = await run(systems, state)

    assert systems.writes == writes
    assert again.plan is not None and again.plan.actions == []
    assert again.exit_code == 0


async def test_one_sided_changes_propagate_both_ways(systems: Systems, state: TenantState) -> None:
    org = systems.webcrm.add(name="Acme AB", phone="08-1", city="Lund")
    await run(systems, state)
    (number,) = [f for _, f in await pairs(state)]

    systems.webcrm.edit(org, phone="08-2")
    systems.fortnox.edit(number, city="Malmö")
    result = await run(systems, state)

    assert statuses(result) == [("synced", org, number)]
    changes = {(c.system, c.field, c.new) for c in result.outcomes[0].action.changes}
    assert changes == {("fortnox", "phone", "08-2"), ("webcrm", "city", "Malmö")}
    assert systems.webcrm.fields_of(org) == systems.fortnox.fields_of(number)


async def test_a_dry_run_writes_nothing_anywhere(systems: Systems, state: TenantState) -> None:
    systems.webcrm.add(name="Acme AB")

    result = await run(systems, state, dry_run=True)

    assert result.status is RunStatus.PLANNED
    assert result.plan is not None
    assert [a.kind for a in result.plan.actions] == [ActionKind.CREATE]
    assert systems.writes == 0
    assert await state.links("customer") == []
    assert await state.runs() == []
    assert await state.cursor("webcrm", "customer") is None


async def _linked(systems: Systems, state: TenantState, **fields: Any) -> tuple[str, str]:
    org = systems.webcrm.add(**fields)
    await run(systems, state)
    link = await state.link_for("customer", "webcrm", org)
    assert link is not None
    return org, link.fortnox_id


async def _both_change(
    systems: Systems, state: TenantState, field: str, webcrm: Any, fortnox: Any
) -> tuple[str, str, RunResult]:
    org, number = await _linked(systems, state, name="Acme AB", phone="1", city="A", email="a@x")
    systems.webcrm.edit(org, **{field: webcrm})
    systems.fortnox.edit(number, **{field: fortnox})
    return org, number, await run(systems, state)


async def _only_conflict(state: TenantState) -> ConflictReport:
    (conflict,) = await state.conflicts("customer")
    return conflict.report


async def test_a_conflict_under_the_fortnox_policy_keeps_fortnox_and_is_recorded(
    systems: Systems, state: TenantState
) -> None:
    org, number, result = await _both_change(systems, state, "name", "W AB", "F AB")

    assert result.exit_code == 0
    assert systems.webcrm.fields_of(org)["name"] == systems.fortnox.fields_of(number)["name"]
    assert systems.webcrm.fields_of(org)["name"] == "F AB"
    report = await _only_conflict(state)
    assert (report.webcrm_value, report.fortnox_value, report.base_value) == (
        "W AB",
        "F AB",
        "Acme AB",
    )
    assert (report.policy, report.resolution) == (Policy.FORTNOX, "fortnox")


async def test_a_conflict_under_the_webcrm_policy_keeps_webcrm(
    systems: Systems, state: TenantState
) -> None:
    org, number, _ = await _both_change(systems, state, "phone", "w", "f")

    assert systems.fortnox.fields_of(number)["phone"] == "w"
    assert systems.webcrm.fields_of(org)["phone"] == "w"
    assert (await _only_conflict(state)).resolution == "webcrm"


async def test_a_conflict_under_the_newest_policy_keeps_the_side_with_the_later_change(
    systems: Systems, state: TenantState
) -> None:
    # Fortnox records carry no timestamp: a timestamped webCRM change counts as newer.
    org, number, _ = await _both_change(systems, state, "city", "Växjö", "Umeå")
    assert systems.webcrm.fields_of(org)["city"] == "Växjö"

    assert systems.fortnox.fields_of(number)["city"] == "Växjö"
    assert (await _only_conflict(state)).resolution == "webcrm"


async def test_a_manual_conflict_writes_nothing_and_is_recorded_once(
    systems: Systems, state: TenantState
) -> None:
    org, number, result = await _both_change(systems, state, "email", "w@x", "f@x")

    assert [o.status for o in result.outcomes] == [RecordStatus.CONFLICT]
    assert result.exit_code == 3
    assert systems.webcrm.fields_of(org)["email"] == "w@x"
    assert systems.fortnox.fields_of(number)["email"] == "f@x"
    systems.webcrm.edit(org, phone="2")  # another change to the pair, conflict still open
    await run(systems, state)
    (conflict,) = await state.conflicts("customer", open_only=True)
    assert conflict.report.resolution is None
    assert systems.fortnox.fields_of(number)["phone"] == "2"


async def test_a_rejected_record_is_stored_while_the_others_sync(
    systems: Systems, state: TenantState
) -> None:
    good = systems.webcrm.add(name="Good AB")
    bad = systems.webcrm.add(name="Bad AB", phone="not a phone")
    systems.fortnox.faults.reject = lambda fields: (
        ValidationError(
            "The phone number is not valid.",
            system="fortnox",
            code=2000359,
            vendor_message="Ogiltigt telefonnummer",
            field="phone",
        )
        if fields.get("phone") == "not a phone"
        else None
    )

    result = await run(systems, state)

    assert result.status is RunStatus.COMPLETED and result.exit_code == 3
    assert {o.webcrm_id: o.status for o in result.outcomes} == {
        good: RecordStatus.SYNCED,
        bad: RecordStatus.FAILED,
    }
    (error,) = await state.open_errors("customer")
    assert (error.system, error.record_id, error.field) == ("webcrm", bad, "phone")
    assert (error.vendor_code, error.vendor_message) == ("2000359", "Ogiltigt telefonnummer")
    assert error.reason == "Fortnox refused it: The phone number is not valid."
    assert await state.cursor("webcrm", "customer") is not None  # not held back by the failure
    assert await state.pending_intents("customer") == []

    # Retried on its next change: fixed, it syncs and the error closes.
    systems.webcrm.edit(bad, phone="08-3")
    await run(systems, state)
    assert await state.open_errors() == []
    assert bad in {w for w, _ in await pairs(state)}


async def test_retry_resends_failed_records_on_demand(systems: Systems, state: TenantState) -> None:
    systems.webcrm.overlap = 0  # so the next run does not re-read it by chance
    bad = systems.webcrm.add(name="Bad AB")
    systems.fortnox.faults.write_error = TransientError(
        "connection refused", system="fortnox", not_sent=True
    )
    first = await run(systems, state)
    assert statuses(first) == [("failed", bad, None)]
    systems.fortnox.faults.write_error = None

    nothing = await run(systems, state)
    retried = await run(systems, state, mode=Mode.RETRY)

    assert nothing.plan is not None and nothing.plan.actions == []
    assert [o.status for o in retried.outcomes] == [RecordStatus.SYNCED]
    assert await state.open_errors() == []
    assert len(systems.fortnox.rows) == 1


async def test_retry_of_one_error_leaves_the_others(systems: Systems, state: TenantState) -> None:
    a = systems.webcrm.add(name="A")
    b = systems.webcrm.add(name="B")
    systems.fortnox.faults.write_error = ValidationError("nope", system="fortnox")
    await run(systems, state)
    systems.fortnox.faults.write_error = None
    errors = {e.record_id: e.id for e in await state.open_errors()}

    await run(systems, state, mode=Mode.RETRY, retry_error=errors[a])

    assert [e.record_id for e in await state.open_errors()] == [b]
    assert await state.links("customer") != []


async def test_a_lost_create_answer_is_resolved_by_lookup_without_a_duplicate(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme AB")
    systems.fortnox.faults.lose_create_answer_once = True

    first = await run(systems, state)

    assert [o.status for o in first.outcomes] == [RecordStatus.FAILED]
    assert "looked up before anything is sent again" in (first.outcomes[0].detail or "")
    assert len(await state.pending_intents("customer")) == 1
    assert len(systems.fortnox.rows) == 1  # it was created, the answer was lost

    second = await run(systems, state)

    assert [o.action.kind for o in second.outcomes] == [ActionKind.RESOLVE]
    assert len(systems.fortnox.rows) == 1
    assert systems.fortnox.calls.creates == 1
    (number,) = systems.fortnox.rows
    assert await pairs(state) == {(org, number)}
    assert systems.webcrm.fields_of(org)["number"] == number
    assert await state.pending_intents("customer") == []
    assert await state.open_errors() == []


async def test_a_failed_write_back_is_reported_on_the_created_record_and_sent_again(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme AB")
    systems.webcrm.faults.reject = lambda fields: (
        ValidationError("no room for it", system="webcrm", status=400, field="number")
        if fields.get("number")
        else None
    )
    first = await run(systems, state)
    (number,) = systems.fortnox.rows
    assert sorted(o.status for o in first.outcomes) == [RecordStatus.FAILED, RecordStatus.SYNCED]
    (error,) = await state.open_errors("customer")
    # The value that failed is Fortnox's number: the error is the Fortnox record's.
    assert (error.system, error.record_id, error.field) == ("fortnox", number, "number")
    assert await pairs(state) == {(org, number)}
    assert systems.webcrm.fields_of(org)["number"] is None

    systems.webcrm.faults.reject = None
    await run(systems, state)
    assert systems.webcrm.fields_of(org)["number"] == number
    assert await state.open_errors() == []
    assert systems.fortnox.calls.creates == 1


async def test_a_create_that_never_arrived_is_sent_again_once(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme AB")
    # Sent, no answer, and the vendor never acted on it: the lookup finds nothing.
    systems.fortnox.faults.create_error_once = TransientError("reset", system="fortnox")

    await run(systems, state)
    second = await run(systems, state, now=_later)

    assert [o.status for o in second.outcomes] == [RecordStatus.SYNCED]
    assert len(systems.fortnox.rows) == 1
    assert {w for w, _ in await pairs(state)} == {org}


def _later() -> datetime:
    """A clock past the time a create that got no answer is given to land."""
    return datetime.now(UTC) + CREATE_SETTLE + timedelta(seconds=1)


async def test_an_edit_made_after_a_lost_create_answer_is_kept(
    systems: Systems, state: TenantState
) -> None:
    number = systems.fortnox.add(name="Acme AB")
    systems.webcrm.faults.lose_create_answer_once = True
    await run(systems, state)
    (org,) = systems.webcrm.rows  # created; its answer was lost
    systems.webcrm.edit(org, name="Beta AB")  # a person edits it before the lookup

    await run(systems, state, now=_later)
    # Not taken for a create cut short: the edit stays and reaches Fortnox.
    assert systems.webcrm.fields_of(org)["name"] == "Beta AB"
    assert systems.fortnox.fields_of(number)["name"] == "Beta AB"


async def test_a_create_carried_out_late_is_not_sent_again_before_it_lands(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme AB")
    # Sent, no answer: the vendor is still working on it when the next run looks it up.
    systems.fortnox.faults.create_error_once = TransientError("timed out", system="fortnox")
    await run(systems, state)

    soon = await run(systems, state)
    assert [o.status for o in soon.outcomes] == [RecordStatus.FAILED]
    assert "may still be under way" in (soon.outcomes[0].detail or "")
    assert systems.fortnox.rows == {}  # not sent again: it may yet land
    assert len(await state.pending_intents("customer")) == 1

    landed = systems.fortnox.add(name="Acme AB", key=org)  # the held request is carried out
    later = await run(systems, state, now=_later)
    assert [o.action.kind for o in later.outcomes] == [ActionKind.RESOLVE]
    assert list(systems.fortnox.rows) == [landed]
    assert await pairs(state) == {(org, landed)}
    assert await state.open_errors() == []


class CrashOnLink:
    """A state store that dies right after a create, before the link is saved (a crash)."""

    def __init__(self, state: TenantState) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    async def save_link(self, *args: Any, intent_id: int | None = None, **kw: Any) -> Link:
        if intent_id is not None:
            raise SystemExit("killed")
        return await self._state.save_link(*args, intent_id=intent_id, **kw)


async def test_a_crash_between_create_and_link_leaves_no_duplicate_after_restart(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme AB")
    crashing = CrashOnLink(state)
    try:
        await sync_entity(SPEC, crashing, systems.sources)  # type: ignore[arg-type]
    except SystemExit:
        pass
    else:
        raise AssertionError("the crash did not happen")
    assert len(systems.fortnox.rows) == 1
    assert await state.links("customer") == []
    assert (await state.runs())[0].status == "aborted"

    restarted = await run(systems, state)

    assert restarted.exit_code == 0
    assert len(systems.fortnox.rows) == 1
    assert systems.fortnox.calls.creates == 1
    assert {w for w, _ in await pairs(state)} == {org}
    assert await run(systems, state) and systems.fortnox.calls.creates == 1


async def test_an_organisation_outside_the_sync_types_is_not_created(
    systems: Systems, state: TenantState
) -> None:
    prospect = systems.webcrm.add(name="Maybe AB", type="Prospect")

    result = await run(systems, state)

    assert statuses(result) == [("excluded", prospect, None)]
    assert result.outcomes[0].detail == "Type 'Prospect' is not synced"
    assert result.exit_code == 0
    assert systems.fortnox.rows == {}


async def test_a_linked_record_leaving_the_sync_types_stops_syncing_and_nothing_is_deleted(
    systems: Systems, state: TenantState
) -> None:
    org, number = await _linked(systems, state, name="Acme AB", phone="1")

    systems.webcrm.set_type(org, "Former customer")
    systems.webcrm.edit(org, phone="2")
    excluded = await run(systems, state)

    assert statuses(excluded) == [("excluded", org, number)]
    assert systems.fortnox.fields_of(number)["phone"] == "1"
    assert number in systems.fortnox.rows and await pairs(state) == {(org, number)}

    systems.webcrm.set_type(org, "Customer")
    await run(systems, state)
    assert systems.fortnox.fields_of(number)["phone"] == "2"


async def test_a_deleted_record_is_unlinked_and_reported_not_propagated(
    systems: Systems, state: TenantState
) -> None:
    org, number = await _linked(systems, state, name="Acme AB")

    systems.fortnox.delete(number)
    systems.webcrm.edit(org, phone="9")
    result = await run(systems, state)

    # Fortnox does not list deletions: the customer, taken to be as last synced, is found gone
    # when the change is written to it.
    assert [(o.action.kind, o.status, o.webcrm_id) for o in result.outcomes] == [
        (ActionKind.UPDATE, RecordStatus.SYNCED, org)
    ]
    assert "Fortnox record is gone" in (result.outcomes[0].detail or "")
    assert number not in systems.fortnox.rows
    # Not deleted in webCRM: an organisation of a synced Type gets a Fortnox customer again.
    (link,) = await state.links("customer")
    assert link.webcrm_id == org and link.fortnox_id in systems.fortnox.rows


async def test_a_deleted_partner_read_by_a_full_run_is_unlinked_first(
    systems: Systems, state: TenantState
) -> None:
    org, number = await _linked(systems, state, name="Acme AB")
    systems.fortnox.delete(number)
    result = await run(systems, state, mode=Mode.FULL)
    assert [(o.action.kind, o.webcrm_id) for o in result.outcomes] == [
        (ActionKind.UNLINK, org),
        (ActionKind.CREATE, org),
    ]
    assert "Fortnox record is gone" in (result.outcomes[0].detail or "")


async def test_the_partner_of_a_changed_record_is_not_read_when_the_pair_is_in_step(
    systems: Systems, state: TenantState
) -> None:
    org, number = await _linked(systems, state, name="Acme AB", phone="1")
    systems.webcrm.edit(org, phone="2")
    systems.fortnox.calls.gets = 0
    await run(systems, state)
    # The change goes out with one write and no read of the Fortnox customer: it was not in
    # Fortnox's change read, so it is as the last sync left it.
    assert systems.fortnox.calls.gets == 0
    assert systems.fortnox.fields_of(number)["phone"] == "2"


async def test_a_field_missing_from_the_base_is_read_from_the_partner(
    systems: Systems, state: TenantState
) -> None:
    systems.fortnox.overlap = 0  # so that the Fortnox customer is not listed again
    # Two different blanks ('' and None) never become a base value: the base lacks the field.
    org, number = await _linked(systems, state, name="Acme AB", phone="")
    await run(systems, state)  # the cursors move past the create
    (link,) = await state.links("customer")
    assert "phone" not in link.base
    systems.webcrm.edit(org, phone="08-1")
    await run(systems, state)
    assert systems.fortnox.fields_of(number)["phone"] == "08-1"


async def test_a_held_pair_reads_its_webcrm_record_and_writes_nothing_to_it(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.overlap = 0  # so that the webCRM record is not listed again
    org, number = await _linked(systems, state, name="Acme AB", phone="1")
    systems.webcrm.set_type(org, "Former customer")
    await run(systems, state)
    (link,) = await state.links("customer")
    assert link.held

    systems.fortnox.edit(number, phone="2")
    systems.webcrm.calls.gets = 0
    result = await run(systems, state)
    # Not taken as in step: read, found not eligible, and left alone.
    assert systems.webcrm.calls.gets == 1
    assert statuses(result) == [("excluded", org, number)]
    assert systems.webcrm.fields_of(org)["phone"] == "1"

    systems.webcrm.set_type(org, "Customer")
    await run(systems, state)
    assert systems.webcrm.fields_of(org)["phone"] == "2"
    (link,) = await state.links("customer")
    assert not link.held


async def test_a_survivor_that_is_not_eligible_is_only_unlinked(
    systems: Systems, state: TenantState
) -> None:
    org, number = await _linked(systems, state, name="Acme AB")
    systems.webcrm.delete(org)
    systems.webcrm.add(name="Other", type="Prospect")

    # webCRM does not report deletions: full reconciliation notices them.
    result = await run(systems, state, mode=Mode.FULL)

    assert [o.action.kind for o in result.outcomes if o.fortnox_id == number] == [
        ActionKind.UNLINK,
        ActionKind.CREATE,
    ]
    assert len(systems.webcrm.rows) == 2  # the Fortnox customer came back as an organisation


async def test_a_deletion_is_noticed_by_full_reconciliation(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.overlap = systems.fortnox.overlap = 0  # no re-reading by chance
    org, number = await _linked(systems, state, name="Acme AB")
    await run(systems, state)  # moves the cursors past the number written back
    systems.webcrm.delete(org)

    incremental = await run(systems, state)
    full = await run(systems, state, mode=Mode.FULL)

    assert incremental.outcomes == []  # webCRM does not report deletions
    assert [(o.action.kind, o.fortnox_id) for o in full.outcomes] == [
        (ActionKind.UNLINK, number),
        (ActionKind.CREATE, number),
    ]
    assert number in systems.fortnox.rows


async def test_full_reconciliation_repairs_drift_incremental_cannot_see(
    systems: Systems, state: TenantState
) -> None:
    systems.fortnox.overlap = systems.webcrm.overlap = 0  # no re-reading by chance
    org, number = await _linked(systems, state, name="Acme AB", city="Lund")
    await run(systems, state)  # moves the cursors past the number written back
    systems.fortnox.edit(number, silently=True, city="Malmö")

    incremental = await run(systems, state)
    full = await run(systems, state, mode=Mode.FULL)

    assert incremental.outcomes == []
    assert statuses(full) == [("synced", org, number)]
    assert systems.webcrm.fields_of(org)["city"] == "Malmö"


async def test_a_first_sync_links_unique_matches_and_reports_ambiguous_ones(
    systems: Systems, state: TenantState
) -> None:
    by_mail_w = systems.webcrm.add(name="Acme", email="a@acme.se", phone="1")
    by_mail_f = systems.fortnox.add(name="Acme AB", email="a@acme.se")
    twin_w = systems.webcrm.add(name="Twin", city="Lund")
    twin_f1 = systems.fortnox.add(name="Twin", city="Lund")
    twin_f2 = systems.fortnox.add(name="Twin", city="Lund")
    only_w = systems.webcrm.add(name="Solo", city="Umeå")

    result = await run(systems, state)

    by_kind = {(o.action.kind, o.webcrm_id, o.fortnox_id) for o in result.outcomes}
    assert (ActionKind.LINK, by_mail_w, by_mail_f) in by_kind
    assert {(ActionKind.REVIEW, twin_w, None), (ActionKind.REVIEW, None, twin_f1)} <= by_kind
    assert (ActionKind.REVIEW, None, twin_f2) in by_kind
    created = [o for o in result.outcomes if o.action.kind is ActionKind.CREATE]
    assert [o.webcrm_id for o in created] == [only_w]
    assert result.exit_code == 3
    assert len(systems.fortnox.rows) == 4 and len(systems.webcrm.rows) == 3
    # The pair now agrees: the webCRM phone went to Fortnox, Fortnox's name won the conflict.
    assert systems.fortnox.fields_of(by_mail_f)["phone"] == "1"
    assert systems.webcrm.fields_of(by_mail_w)["name"] == "Acme AB"
    (decision,) = [d for d in await state.match_decisions("customer")]
    assert (decision.webcrm_id, decision.fortnox_id, decision.key) == (
        by_mail_w,
        by_mail_f,
        "e-mail",
    )


async def test_ambiguous_records_stay_uncreated_until_a_decision(
    systems: Systems, state: TenantState
) -> None:
    twin_w = systems.webcrm.add(name="Twin", city="Lund")
    systems.fortnox.add(name="Twin", city="Lund")
    twin_f2 = systems.fortnox.add(name="Twin", city="Lund")
    await run(systems, state)

    await state.save_match_decision("customer", twin_w, twin_f2, MatchVerdict.ACCEPTED, "manual")
    systems.webcrm.edit(twin_w, phone="5")
    result = await run(systems, state, mode=Mode.FULL)

    assert (await pairs(state)) >= {(twin_w, twin_f2)}
    assert systems.fortnox.fields_of(twin_f2)["phone"] == "5"
    assert len(systems.webcrm.rows) == 2 and len(systems.fortnox.rows) == 2
    assert [o.action.kind for o in result.outcomes if o.webcrm_id == twin_w] == [ActionKind.LINK]


async def test_webcrm_owned_numbers_are_sent_and_a_missing_one_is_reported(
    systems: Systems, state: TenantState
) -> None:
    spec = EntitySpec(
        entity="customer",
        rules={**SPEC.rules, "number": FieldRule(Direction.TO_FORTNOX, Policy.WEBCRM)},
        match_keys=SPEC.match_keys,
        required_for_create={"fortnox": ("number",)},
    )
    numbered = systems.webcrm.add(name="Numbered AB", number="5001")
    unnumbered = systems.webcrm.add(name="Unnumbered AB")

    result = await run(systems, state, spec)

    assert {o.webcrm_id: o.status for o in result.outcomes} == {
        numbered: RecordStatus.SYNCED,
        unnumbered: RecordStatus.FAILED,
    }
    assert "5001" in systems.fortnox.rows
    (error,) = await state.open_errors()
    assert (error.record_id, error.field) == (unnumbered, "number")
    assert "number is empty in webCRM and is required" in error.reason
    assert len(systems.fortnox.rows) == 1


async def test_an_auth_failure_stops_the_run_without_moving_cursors(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.add(name="A")
    systems.webcrm.add(name="B")
    systems.fortnox.faults.write_error = ReconnectNeeded("the grant was revoked", system="fortnox")

    result = await run(systems, state)

    assert result.status is RunStatus.ABORTED and result.exit_code == 1
    assert "the grant was revoked" in (result.message or "")
    assert systems.fortnox.calls.creates == 1  # stopped at the first refusal
    assert await state.cursor("webcrm", "customer") is None
    assert await state.open_errors() == []
    assert await state.pending_intents("customer") == []
    (logged,) = await state.runs()
    assert (logged.status, logged.message) == ("aborted", result.message)


async def test_an_unreadable_system_aborts_the_run(systems: Systems, state: TenantState) -> None:
    systems.webcrm.faults.read_error = TransientError("no route to host", system="webcrm")

    result = await run(systems, state)

    assert result.exit_code == 1
    assert "could not read changes" in (result.message or "")
    assert systems.writes == 0


def _refused(system: str) -> NoAnswer:
    return NoAnswer(
        address="http://127.0.0.1:9", reason="connection refused", system=system, not_sent=True
    )


async def test_a_system_gone_mid_run_stops_it_after_three_records_without_an_answer(
    systems: Systems, state: TenantState
) -> None:
    for n in range(10):
        systems.webcrm.add(name=f"Kund {n}")
    systems.fortnox.faults.write_error = _refused("fortnox")

    result = await run(systems, state)

    assert result.status is RunStatus.ABORTED and result.exit_code == 1
    assert result.error is not None and isinstance(result.error, NoAnswer)
    assert systems.fortnox.calls.creates == 3
    assert result.not_attempted == 7
    errors = await state.open_errors()
    assert len(errors) == 3
    for error in errors:
        assert error.reason.startswith("not sent: Fortnox did not answer (no answer from")
        assert "refused it" not in error.reason
    assert await state.cursor("webcrm", "customer") is None  # the untried are read again
    (logged,) = await state.runs()
    assert logged.status == "aborted"
    assert logged.counts == {"failed": 3, "not_attempted": 7}


async def test_an_answer_between_records_without_one_lets_the_run_go_on(
    systems: Systems, state: TenantState
) -> None:
    for n in range(6):
        systems.webcrm.add(name=f"Kund {n}")
    refused = {"Kund 0", "Kund 1", "Kund 3", "Kund 4"}

    def reject(fields: Any) -> NoAnswer | None:
        return _refused("fortnox") if fields["name"] in refused else None

    systems.fortnox.faults.reject = reject

    result = await run(systems, state)

    assert result.status is RunStatus.COMPLETED and result.exit_code == 3
    assert result.counts == {"failed": 4, "synced": 2}


async def test_the_run_log_counts_outcomes(systems: Systems, state: TenantState) -> None:
    systems.webcrm.add(name="A")
    systems.webcrm.add(name="P", type="Prospect")

    result = await run(systems, state)

    (logged,) = await state.runs()
    assert logged.id == result.run_id
    assert (logged.status, logged.counts) == ("completed", {"excluded": 1, "synced": 1})


async def test_progress_is_reported_per_record(systems: Systems, state: TenantState) -> None:
    systems.webcrm.add(name="A")
    systems.fortnox.add(name="B")
    seen: list[tuple[int, int]] = []

    await run(systems, state, progress=lambda done, total, _: seen.append((done, total)))

    assert seen == [(1, 2), (2, 2)]


async def test_a_match_with_an_ineligible_organisation_links_without_syncing_until_eligible(
    systems: Systems, state: TenantState
) -> None:
    prospect = systems.webcrm.add(name="Acme", email="a@acme.se", phone="1", type="Prospect")
    customer = systems.fortnox.add(name="Acme AB", email="a@acme.se")

    first = await run(systems, state)
    systems.fortnox.edit(customer, city="Lund")
    second = await run(systems, state)

    assert statuses(first) == [("excluded", prospect, customer)]
    assert statuses(second) == [("excluded", prospect, customer)]
    assert len(systems.webcrm.rows) == 1 and systems.writes == 0  # no duplicate organisation
    systems.webcrm.set_type(prospect, "Customer")
    await run(systems, state)
    assert systems.webcrm.fields_of(prospect)["city"] == "Lund"
    assert systems.fortnox.fields_of(customer)["phone"] == "1"


async def test_an_incremental_run_links_records_created_on_both_sides_since_the_last_run(
    systems: Systems, state: TenantState
) -> None:
    await run(systems, state)
    org = systems.webcrm.add(name="Acme", email="a@acme.se")
    customer = systems.fortnox.add(name="Acme", email="a@acme.se")

    result = await run(systems, state)

    assert [(o.action.kind, o.webcrm_id, o.fortnox_id) for o in result.outcomes] == [
        (ActionKind.LINK, org, customer)
    ]
    assert systems.fortnox.calls.creates == systems.webcrm.calls.creates == 0


async def test_ambiguous_records_stay_under_review_when_a_later_run_reads_only_one_of_them(
    systems: Systems, state: TenantState
) -> None:
    systems.webcrm.overlap = systems.fortnox.overlap = 0
    first_w = systems.webcrm.add(name="Acme", email="a@acme.se")
    second_w = systems.webcrm.add(name="Acme", email="a@acme.se")
    customer = systems.fortnox.add(name="Acme", email="a@acme.se")
    await run(systems, state)

    systems.webcrm.edit(second_w, phone="9")  # only this candidate is read next time
    result = await run(systems, state)

    assert statuses(result) == [("review", second_w, None)]
    assert "same e-mail as Fortnox record(s) " + customer in (result.outcomes[0].detail or "")
    assert await state.links("customer") == [] and systems.writes == 0
    kinds = {(e.record_id, e.kind.value) for e in await state.open_errors()}
    assert kinds == {(first_w, "ambiguous"), (second_w, "ambiguous"), (customer, "ambiguous")}

    await state.save_match_decision("customer", second_w, customer, MatchVerdict.ACCEPTED, "me")
    systems.webcrm.edit(second_w, phone="10")
    await run(systems, state)
    assert await pairs(state) == {(second_w, customer)}
    assert [e.record_id for e in await state.open_errors()] == [first_w]


async def test_a_failing_record_that_leaves_the_sync_types_is_no_longer_reported(
    systems: Systems, state: TenantState
) -> None:
    org = systems.webcrm.add(name="Acme")
    systems.fortnox.faults.write_error = ValidationError("nope", system="fortnox")
    await run(systems, state)
    assert len(await state.open_errors()) == 1

    systems.webcrm.set_type(org, "Prospect")
    result = await run(systems, state)

    assert statuses(result) == [("excluded", org, None)]
    assert await state.open_errors() == []
