"""Benchmark 6: one page of the fleet (the read model's tenant list) at many tenants.

Setup: a SQLite state file (and, when ``WEBCRM_FORTNOX_TEST_POSTGRES_URL`` is set, a PostgreSQL
schema) with ``tenants`` registered tenants, each with its health, schedule, a lag, a history of
``cycles`` cycles, and, for one in ten, open and resolved record errors and open conflicts. The
rows are written in bulk, not by syncing. On PostgreSQL the job queue holds what workers leave:
a sync waiting for every second tenant (every fourth backing off), one running for every tenth,
and ``cycles`` failed jobs per tenant kept as history. Each query shape the admin page uses
(the first page, a late page, filtered by health, by a name, by "has errors") is timed as the
median of ``repeats`` reads (PostgreSQL's statistics gathered first, as autovacuum does after a
bulk load), at a tenth of the tenants and at all of them side by side: a page should cost about
the same whatever the size of the fleet.

The target: a page in under 100 ms at 5,000 tenants.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.figures import Figure, ScenarioResult
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.database import create_engine
from webcrm_fortnox.store.job_queue import TENANT_LOCK
from webcrm_fortnox.store.queries import FleetFilter, ReadModel

#: The longest a page of the fleet may take at the full size, in milliseconds.
TARGET_MS = 100.0
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POSTGRES_ENV = "WEBCRM_FORTNOX_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class FleetSizes:
    """How big the fleet is and how often each page is read.

    Attributes:
        tenants: registered tenants at the full size (a tenth of them at the small one).
        cycles: cycles stored per tenant.
        repeats: reads per page shape (the median is reported).
    """

    tenants: int
    cycles: int
    repeats: int


def _rows(count: int, cycles: int) -> dict[sa.Table, list[dict[str, Any]]]:
    """Every row of a fleet of ``count`` tenants, by table."""
    rows: dict[sa.Table, list[dict[str, Any]]] = {
        table: []
        for table in (
            t.tenants,
            t.service_state,
            t.tenant_schedules,
            t.cycles,
            t.record_errors,
            t.conflicts,
        )
    }
    for n in range(count):
        name = f"tenant-{n:05d}"
        failing = n % 10 == 0
        rows[t.tenants].append(
            {
                "name": name,
                "settings": {"name": name},
                "secrets": "x",
                "state": "active",
                "version": 1,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        health = {"state": "failing" if failing else "ok", "reason": "refused" if failing else None}
        rows[t.service_state] += [
            {"tenant": name, "key": "health", "value": health, "updated_at": NOW},
            {"tenant": name, "key": "lag", "value": {"seconds": 2.0}, "updated_at": NOW},
        ]
        rows[t.tenant_schedules].append(
            {"tenant": name, "next_cycle_at": NOW + timedelta(seconds=n), "updated_at": NOW}
        )
        for c in range(cycles):
            started = NOW - timedelta(minutes=5 * (cycles - c))
            rows[t.cycles].append(
                {
                    "tenant": name,
                    "trigger": "cycle",
                    "mode": "incremental",
                    "status": "stopped" if failing and c == cycles - 1 else "completed",
                    "started_at": started,
                    "finished_at": started + timedelta(seconds=3),
                    "counts": {"customer": {"synced": 3}},
                }
            )
        if failing:
            for e in range(20):
                rows[t.record_errors].append(
                    {
                        "tenant": name,
                        "entity": "customer",
                        "system": "fortnox",
                        "record_id": str(e),
                        "reason": "refused",
                        "attempts": 1,
                        "first_seen": NOW,
                        "last_seen": NOW,
                        "state": "open" if e < 5 else "resolved",
                    }
                )
            rows[t.conflicts] += [
                {
                    "tenant": name,
                    "entity": "customer",
                    "link_id": c,
                    "webcrm_id": str(c),
                    "fortnox_id": str(c),
                    "field": "phone",
                    "policy": "manual",
                    "created_at": NOW,
                }
                for c in range(3)
            ]
    return rows


async def _fill(db: StateDatabase, count: int, cycles: int) -> None:
    async with db.begin() as conn:
        for table, rows in _rows(count, cycles).items():
            for start in range(0, len(rows), 2000):
                await conn.execute(sa.insert(table), rows[start : start + 2000])
    if db.engine.dialect.name == "postgresql":
        async with db.begin() as conn:
            await _fill_queue(conn, count, cycles)
        # What autovacuum does after a bulk load: without statistics the planner takes the
        # fresh tables for empty and joins them by scanning (a second a page instead of 30 ms).
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE"))


#: Sync jobs of the tenants numbered ``n`` from a series, with a status and a due time.
_JOBS = f"""
INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, status,
                                scheduled_at)
SELECT 'sync', 'webcrm_fortnox.sync', '{TENANT_LOCK}' || name, '{TENANT_LOCK}' || name,
       json_build_object('tenant', name, 'trigger', 'cycle'),
       CAST(:status AS procrastinate_job_status),
       CASE WHEN n % 4 = 0 AND :status = 'todo' THEN :now + n * interval '1 second' END
FROM (SELECT n, 'tenant-' || lpad(n::text, 5, '0') AS name
      FROM generate_series(0, :count - 1) AS n) AS tenant, generate_series(1, :copies)
WHERE n % :every = 0
"""


async def _fill_queue(conn: Any, count: int, cycles: int) -> None:
    """The job queue as workers leave it (see the module docstring)."""
    for status, every, copies in (("todo", 2, 1), ("doing", 10, 1), ("failed", 1, cycles)):
        await conn.execute(
            sa.text(_JOBS),
            {"status": status, "every": every, "copies": copies, "count": count, "now": NOW},
        )


async def _median_ms(read: Callable[[], Awaitable[object]], repeats: int) -> float:
    await read()  # the first read warms the connection pool and the statement cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _shapes(db: StateDatabase, count: int, repeats: int) -> dict[str, float]:
    model = ReadModel(db, clock=lambda: NOW)
    shapes: dict[str, Callable[[], Awaitable[object]]] = {
        "first page": lambda: model.fleet(limit=50),
        "late page": lambda: model.fleet(offset=max(0, count - 50), limit=50),
        "failing": lambda: model.fleet(FleetFilter(health="failing"), limit=50),
        "name": lambda: model.fleet(FleetFilter(name="00-9"), limit=50),
        "has errors": lambda: model.fleet(FleetFilter(has_errors=True), limit=50),
    }
    return {name: await _median_ms(read, repeats) for name, read in shapes.items()}


async def _backend(url: str, schema: str | None, sizes: FleetSizes) -> dict[int, dict[str, float]]:
    """The page times at a tenth of the fleet and at all of it, each in a fresh store."""
    measured = {}
    for count in (sizes.tenants // 10, sizes.tenants):
        where = None if schema is None else f"{schema}_{count}"
        db = await StateDatabase.open(url.format(count=count), schema=where, clock=lambda: NOW)
        try:
            await _fill(db, count, sizes.cycles)
            measured[count] = await _shapes(db, count, sizes.repeats)
        finally:
            await db.close()
            if where is not None:
                engine = create_engine(url)
                async with engine.begin() as conn:
                    await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{where}" CASCADE'))
                await engine.dispose()
    return measured


async def run_fleet(workdir: Path, sizes: FleetSizes) -> ScenarioResult:
    """Time the fleet's pages on SQLite, and on PostgreSQL when configured."""
    backends = {"SQLite": (f"sqlite:///{workdir}/fleet-{{count}}.db", None)}
    postgres = os.environ.get(POSTGRES_ENV)
    if postgres:
        backends["PostgreSQL"] = (postgres, f"bench_{uuid.uuid4().hex[:8]}")
    result = ScenarioResult()
    for backend, (url, schema) in backends.items():
        measured = await _backend(url, schema, sizes)
        small, full = sorted(measured)
        result.details[backend] = {str(count): shapes for count, shapes in measured.items()}
        for shape, ms in measured[full].items():
            ratio = ms / measured[small][shape] if measured[small][shape] else 0.0
            result.figures.append(
                Figure(
                    "fleet",
                    f"{backend} {shape}, {full:,} tenants",
                    round(ms, 1),
                    "ms",
                    target=TARGET_MS,
                    kind="max",
                    note=f"{ratio:.1f}x the time at {small:,} tenants; median of {sizes.repeats}",
                )
            )
    return result
