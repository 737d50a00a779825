"""The read model's contract, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.store.backends import BACKENDS, open_database
from webcrm_fortnox.engine.ports import ConflictReport, ErrorKind, ErrorReport, Policy
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.queries import NEVER_RUN, FleetFilter, QueueState, ReadModel
from webcrm_fortnox.store.registry import NewTenant, TenantRegistry
from webcrm_fortnox.store.registry import TenantState as RegistryState
from webcrm_fortnox.store.service import Schedule, ServiceStore
from webcrm_fortnox.store.state import ExclusionChange

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    async for database in open_database(request.param, tmp_path, clock=lambda: NOW):
        yield database


@pytest.fixture
def model(db: StateDatabase) -> ReadModel:
    return ReadModel(db)


async def register(db: StateDatabase, *names: str) -> None:
    await TenantRegistry(db).register(
        [NewTenant(name, {"name": name}, "secret") for name in names], update=False
    )


def error(record_id: str, entity: str = "customer", **extra: object) -> ErrorReport:
    return ErrorReport(entity, "webcrm", record_id, "refused", **extra)  # type: ignore[arg-type]


CONFLICT = ConflictReport("phone", "1", "2", "0", Policy.MANUAL, None)


async def test_the_fleet_lists_registered_and_configured_tenants_by_name_with_their_health(
    db: StateDatabase, model: ReadModel
) -> None:
    await register(db, "beta", "alpha", "gone")
    await TenantRegistry(db).set_state("gone", RegistryState.REMOVED, "left")
    beta = db.tenant("beta")
    cycle = await beta.start_cycle("cycle", "incremental")
    await beta.finish_cycle(
        cycle, "stopped", {}, "webCRM: no answer", {"state": "failing", "reason": "no answer"}
    )

    page = await model.fleet(configured=["from-file", "alpha"])

    assert [row.name for row in page.rows] == ["alpha", "beta", "from-file"]
    assert page.total == 3
    alpha, beta_row, from_file = page.rows
    assert (alpha.health, alpha.registered, alpha.registry_state) == (NEVER_RUN, True, "active")
    assert (beta_row.health, beta_row.reason) == ("failing", "no answer")
    assert beta_row.last_cycle is not None and beta_row.last_cycle.id == cycle
    assert beta_row.last_success_at is None
    assert (from_file.registered, from_file.registry_state) == (False, None)


async def test_the_fleet_filters_by_health_name_and_errors_and_pages(
    db: StateDatabase, model: ReadModel
) -> None:
    names = [f"tenant-{n:02d}" for n in range(12)] + ["Other_1"]
    await register(db, *names)
    for name in names[:5]:
        await db.tenant(name).record_error(error("17"))
    for name in names[3:7]:
        await ServiceStore(db).put(name, "health", {"state": "ok", "reason": None})

    failing = await model.fleet(FleetFilter(has_errors=True))
    healthy = await model.fleet(FleetFilter(health="ok", has_errors=False))
    never = await model.fleet(FleetFilter(health=NEVER_RUN))
    named = await model.fleet(FleetFilter(name="HER_"))  # any case; "_" is no wildcard
    wildcard = await model.fleet(FleetFilter(name="tenant_"))
    second = await model.fleet(offset=5, limit=5)
    beyond = await model.fleet(offset=50, limit=5)

    assert [row.name for row in failing.rows] == names[:5]
    assert all(row.open_errors == 1 for row in failing.rows)
    assert [row.name for row in healthy.rows] == names[5:7]
    assert never.total == len(names) - 4
    assert [row.name for row in named.rows] == ["Other_1"]
    assert wildcard.total == 0
    assert [row.name for row in second.rows] == sorted(names)[5:10]
    assert (second.total, second.has_more) == (13, True)
    assert (beyond.rows, beyond.total) == ([], 13)


async def test_lateness_counts_from_the_due_cycle_unless_paused_or_syncing(
    db: StateDatabase, model: ReadModel
) -> None:
    await register(db, "due", "backoff", "paused", "syncing", "future")
    store = ServiceStore(db)
    await store.save_schedule("due", Schedule(next_cycle_at=NOW - timedelta(minutes=3)))
    await store.save_schedule(
        "backoff",
        Schedule(next_cycle_at=NOW - timedelta(minutes=9), failures=2, retry_at=NOW - timedelta(1)),
    )
    await store.save_schedule(
        "paused", Schedule(next_cycle_at=NOW - timedelta(hours=1), paused="reconnect needed")
    )
    await store.save_schedule("syncing", Schedule(next_cycle_at=NOW - timedelta(minutes=1)))
    assert await store.claim("syncing", "worker-1", 60)
    await store.save_schedule("future", Schedule(next_cycle_at=NOW + timedelta(minutes=1)))

    rows = {row.name: row for row in (await model.fleet()).rows}

    assert rows["due"].late_seconds == 180
    assert rows["backoff"].late_seconds == 86400
    assert rows["backoff"].failures == 2
    assert rows["paused"].late_seconds is None
    assert rows["paused"].paused == "reconnect needed"
    assert (rows["syncing"].late_seconds, rows["syncing"].syncing) == (None, True)
    assert rows["future"].late_seconds is None
    assert rows["future"].next_cycle_at == NOW + timedelta(minutes=1)


async def test_the_fleet_shows_last_success_conflicts_feed_tokens_and_lag(
    db: StateDatabase, model: ReadModel
) -> None:
    await register(db, "acme")
    acme = db.tenant("acme")
    first = await acme.start_cycle("cycle", "incremental")
    await acme.finish_cycle(first, "completed", {"customer": {"synced": 2}}, None, None)
    second = await acme.start_cycle("cycle", "incremental")
    await acme.finish_cycle(second, "stopped", {}, "stopped", None)
    await acme.start_cycle("cycle", "incremental")  # running: neither last nor success
    link = await acme.save_link("customer", "1", "2", {})
    await acme.add_conflicts("customer", link, [CONFLICT, CONFLICT])
    await ServiceStore(db).save_secret("acme", "fortnox", "cipher")
    await ServiceStore(db).put("acme", "lag", {"seconds": 1.5, "direction": "webcrm->fortnox"})
    async with db.begin() as conn:
        await conn.execute(
            sa.insert(t.feed_members).values(
                tenant="acme", client_id="c", epoch=1, live=True, updated_at=NOW
            )
        )

    (row,) = (await model.fleet()).rows

    assert row.last_cycle is not None and row.last_cycle.id == second
    assert row.last_success_at == NOW
    assert row.open_conflicts == 2
    assert (row.feed_live, row.fortnox_tokens) == (True, True)
    assert row.lag == {"seconds": 1.5, "direction": "webcrm->fortnox"}


async def test_named_tenants_are_listed_even_when_nothing_is_stored_of_them(
    db: StateDatabase, model: ReadModel
) -> None:
    await register(db, "registered")

    rows = await model.tenants(["new", "registered"])

    assert [(row.name, row.health, row.registered) for row in rows] == [
        ("new", NEVER_RUN, False),
        ("registered", NEVER_RUN, True),
    ]


async def test_the_queue_state_is_absent_without_a_job_queue_and_empty_before_any_job(
    db: StateDatabase, model: ReadModel
) -> None:
    await register(db, "alpha")

    [row] = (await model.fleet()).rows

    # SQLite keeps no job queue (``run`` syncs itself); PostgreSQL has Procrastinate's tables
    # from migration 0011, empty until something defers a sync.
    empty = QueueState(waiting=0, running=0, next_at=None)
    assert row.queue == (None if db.engine.dialect.name == "sqlite" else empty)


async def test_entity_counts_give_in_sync_excluded_failing_and_conflicts(
    db: StateDatabase, model: ReadModel
) -> None:
    acme = db.tenant("acme")
    link = await acme.save_link("customer", "1", "2", {})
    await acme.save_link("customer", "3", "4", {})
    await acme.record_error(error("7"))
    await acme.record_error(error("8", kind=ErrorKind.INCOMPLETE))
    await acme.record_error(error("9", entity="article"))
    await acme.record_exclusions([ExclusionChange("article", "10", None, True, "no number")])
    await acme.add_conflicts("customer", link, [CONFLICT])
    await db.tenant("other").save_link("customer", "1", "2", {})

    counts = {count.entity: count for count in await model.entity_counts("acme")}

    customer, article = counts["customer"], counts["article"]
    assert (customer.in_sync, customer.excluded, customer.open_conflicts) == (2, 0, 1)
    assert customer.failing_by_kind == {"failure": 1, "incomplete": 1}
    assert customer.failing == 2
    assert (article.in_sync, article.excluded, article.failing) == (0, 1, 1)
    (excluded,) = (await model.exclusions("acme")).rows
    assert (excluded.entity, excluded.webcrm_id, excluded.reason) == ("article", "10", "no number")


async def test_errors_conflicts_and_cycles_are_paged_across_tenants_and_found_by_id(
    db: StateDatabase, model: ReadModel
) -> None:
    for name in ("b", "a"):
        state = db.tenant(name)
        for record in ("1", "2", "3"):
            await state.record_error(
                error(record, field="lines", vendor_code="2000", vendor_message="bad row")
            )
        link = await state.save_link("article", "x", "y", {}, resolve_errors=False)
        await state.add_conflicts("article", link, [CONFLICT])
        await state.start_cycle("once", "full")
    await db.tenant("a").resolve_errors("customer", "webcrm", "1")

    open_errors = await model.errors(limit=2)
    every_error = await model.errors(tenant="a", open_only=False)
    conflicts = await model.conflicts(entity="article", open_only=True)
    cycles = await model.cycles("b")

    assert [(row.tenant, row.error.record_id) for row in open_errors.rows] == [
        ("a", "2"),
        ("a", "3"),
    ]
    assert open_errors.total == 5
    assert every_error.total == 3
    first = open_errors.rows[0].error
    assert (first.field, first.vendor_code, first.vendor_message) == ("lines", "2000", "bad row")
    assert (first.reason, first.attempts) == ("refused", 1)
    found = await model.error(first.id)
    assert found is not None and found.tenant == "a"
    assert [row.tenant for row in conflicts.rows] == ["a", "b"]
    report = conflicts.rows[0].conflict.report
    assert (report.webcrm_value, report.fortnox_value, report.base_value) == ("1", "2", "0")
    assert (report.policy, report.resolution) == (Policy.MANUAL, None)
    conflict = await model.conflict(conflicts.rows[1].conflict.id)
    assert conflict is not None and conflict.tenant == "b"
    (cycle,) = cycles.rows
    assert (cycle.tenant, cycle.cycle.trigger, cycle.cycle.status) == ("b", "once", "running")
    by_id = await model.cycle(cycle.cycle.id)
    assert by_id == cycle
    assert await model.error(10_000) is None
    assert await model.cycle(10_000) is None
