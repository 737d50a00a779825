"""Benchmark 5: diff and plan of a full reconciliation, with both systems in memory.

Each size has that many linked customers on each side, 1% changed in webCRM and 1% in Fortnox
(different ones). Time is the CPU time of :func:`~webcrm_fortnox.engine.plan.plan_run` in a
run without tracing; memory is the peak that ``tracemalloc`` sees during a second, traced run
(the sources' own rows, the vendors' data, are allocated before tracing starts).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from datetime import UTC, datetime

from bench.figures import Figure, ScenarioResult
from bench.memory import MemorySource, MemoryState
from bench.pair import bench_tenant
from webcrm_fortnox.domain.customer_spec import customer_spec
from webcrm_fortnox.engine.plan import ActionKind, Mode, plan_run
from webcrm_fortnox.engine.ports import EntitySpec, Link, RecordSource, System

CHANGED_SHARE = 0.01
MB = 1024 * 1024


def _row(spec: EntitySpec, n: int) -> dict[str, str | None]:
    values: dict[str, str | None] = {name: f"{name} {n}" for name in spec.rules}
    values["customer_number"] = str(10_000 + n)
    values["country"] = "SE"
    values["fax"] = None
    return values


def _tenant(spec: EntitySpec, size: int) -> tuple[MemoryState, dict[System, RecordSource]]:
    webcrm: dict[str, dict[str, str | None]] = {}
    fortnox: dict[str, dict[str, str | None]] = {}
    links = []
    changed = max(1, int(size * CHANGED_SHARE))
    now = datetime.now(UTC)
    for n in range(size):
        row = _row(spec, n)
        webcrm_id, fortnox_id = str(n + 1), str(10_000 + n)
        webcrm[webcrm_id] = dict(row)
        fortnox[fortnox_id] = dict(row)
        links.append(Link(n + 1, spec.entity, webcrm_id, fortnox_id, dict(row), now))
        if n < changed:
            webcrm[webcrm_id]["phone"] = f"changed {n}"
        elif n < 2 * changed:
            fortnox[fortnox_id]["phone"] = f"changed {n}"
    sources: dict[System, RecordSource] = {
        "webcrm": MemorySource("webcrm", spec.entity, webcrm),
        "fortnox": MemorySource("fortnox", spec.entity, fortnox),
    }
    return MemoryState(links), sources


async def _plan_once(spec: EntitySpec, size: int, *, traced: bool) -> tuple[float, float, int]:
    state, sources = _tenant(spec, size)
    gc.collect()
    if traced:
        tracemalloc.start()
    started = time.process_time()
    plan = await plan_run(spec, state, sources, Mode.FULL)
    cpu = time.process_time() - started
    peak = 0.0
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    updates = len(plan.of_kind(ActionKind.UPDATE))
    return cpu, peak, updates


def run_engine_scale(sizes: tuple[int, ...]) -> ScenarioResult:
    """Plan a full reconciliation at each size; figures for the largest."""
    spec = customer_spec(bench_tenant("http://fortnox.invalid", "http://webcrm.invalid"))
    result = ScenarioResult()
    cpu_points: list[tuple[float, float]] = []
    memory_points: list[tuple[float, float]] = []
    for size in sizes:
        cpu, _, updates = asyncio.run(_plan_once(spec, size, traced=False))
        expected = 2 * max(1, int(size * CHANGED_SHARE))
        if updates != expected:
            raise RuntimeError(f"planned {updates} updates for {expected} changed records")
        _, peak, _ = asyncio.run(_plan_once(spec, size, traced=True))
        cpu_points.append((size, cpu))
        memory_points.append((size, peak))
    result.series["plan CPU seconds by records per side"] = cpu_points
    result.series["plan peak MB by records per side"] = memory_points
    largest, cpu = cpu_points[-1]
    peak = memory_points[-1][1]
    first, first_cpu = cpu_points[0]
    growth = (cpu / first_cpu) / (largest / first) if first_cpu and largest > first else 1.0
    memory_growth = (peak / memory_points[0][1]) / (largest / first) if largest > first else 1.0
    result.figures += [
        Figure(
            "engine",
            f"diff + plan throughput at {int(largest):,} records per side",
            round(largest / cpu),
            "records/s",
            20_000,
            "min",
            f"{cpu:.2f} s CPU for a full reconciliation of {int(largest):,} linked pairs",
        ),
        Figure(
            "engine",
            f"peak memory of diff + plan at {int(largest):,} records per side",
            round(peak, 1),
            "MB",
            300,
            "max",
            "tracemalloc peak during planning; the vendors' data is not counted",
        ),
        Figure(
            "engine",
            f"time growth {int(first):,} → {int(largest):,} ÷ size growth",
            round(growth, 2),
            "×",
            note="1.0 is linear",
        ),
        Figure(
            "engine",
            f"memory growth {int(first):,} → {int(largest):,} ÷ size growth",
            round(memory_growth, 2),
            "×",
            note="1.0 is linear, below it sub-linear",
        ),
    ]
    return result
