"""Benchmarks 1 and 2: what an idle cycle and an incremental cycle cost in API calls and CPU.

Setup: Fortnox is seeded with the customers (and articles), webCRM is empty, and the product's
first sync imports every customer into webCRM, linking each pair. The clocks are then moved on
so that the cycles measured are in the steady state (the import no longer lies within the
change feeds' overlap windows), and:

* incremental: people change the phone number of ``changed`` customers in Fortnox and of as
  many other organisations in webCRM; one cycle propagates them (calls per changed record), and
  the cycle after it must write nothing;
* idle: cycles with no change at all (calls and CPU time of our process; the emulators run in
  processes of their own).

The clients stay open from cycle to cycle, as the running service keeps them: a cycle signs in
only when a token expires (Fortnox's last an hour; the clocks move ten minutes a cycle here).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.emulators import Calls
from bench.figures import Figure, ScenarioResult
from bench.pair import FORTNOX_TENANT, Pair, pair

#: Clocks move this far between phases: past both change feeds' overlap windows (3 and 5 min).
SETTLE_SECONDS = 600.0
IDLE_CYCLES = 3


@dataclass(frozen=True)
class CostSizes:
    """How big the tenant is."""

    customers: int
    articles: int
    orders: int
    changed: int


def _calls_json(calls: dict[str, Calls]) -> dict[str, dict[str, int]]:
    return {system: c.by_route() for system, c in calls.items()}


def _total(calls: dict[str, Calls]) -> int:
    return sum(c.total for c in calls.values())


async def _import(p: Pair, sizes: CostSizes, result: ScenarioResult) -> None:
    await p.fortnox.seed(
        FORTNOX_TENANT, customers=sizes.customers, articles=sizes.articles, orders=sizes.orders
    )
    started = time.perf_counter()
    run = await p.sync()
    if run.stopped:
        raise RuntimeError(f"the import did not complete: {run.reason}")
    result.details["import_counts"] = {r.entity: r.counts for r in run.results}
    result.details["import_seconds"] = round(time.perf_counter() - started, 2)
    # Two more cycles: the first after an import into an empty side reads in full again (that
    # side had no cursor yet), the second settles every cursor.
    for _ in range(2):
        await p.advance(SETTLE_SECONDS)
        await p.sync()
    await p.advance(SETTLE_SECONDS)


async def _incremental(p: Pair, sizes: CostSizes, result: ScenarioResult) -> None:
    pairs = await p.linked_ids()
    if len(pairs) < 2 * sizes.changed:
        raise RuntimeError(f"only {len(pairs)} linked customers")
    in_fortnox = [number for _, number in pairs[: sizes.changed]]
    in_webcrm = [webcrm_id for webcrm_id, _ in pairs[sizes.changed : 2 * sizes.changed]]
    await p.edit_customers(in_fortnox, "08-100 00 01")
    await p.edit_organisations(in_webcrm, "08-100 00 02")
    await p.reset_stats()
    run = await p.sync()
    calls = await p.calls()
    changed = 2 * sizes.changed
    if run.stopped:
        raise RuntimeError(f"the incremental cycle did not complete: {run.reason}")
    if await p.organisation_phone(pairs[0][0]) != "08-100 00 01":
        raise RuntimeError("a Fortnox change did not reach webCRM")
    if await p.customer_phone(pairs[sizes.changed][1]) != "08-100 00 02":
        raise RuntimeError("a webCRM change did not reach Fortnox")
    await p.advance(SETTLE_SECONDS)
    await p.reset_stats()
    await p.sync()
    after = await p.calls()
    result.details["incremental_calls"] = _calls_json(calls)
    result.details["after_incremental_calls"] = _calls_json(after)
    per_record = _total(calls) / changed
    result.figures += [
        Figure(
            "incremental",
            f"API calls per changed record ({changed} changed)",
            round(per_record, 3),
            "calls",
            2.05,
            "max",
            f"{_total(calls)} calls in all, sign-ins and field check included",
        ),
        Figure(
            "incremental",
            "writes in the next cycle",
            sum(c.writes for c in after.values()),
            "writes",
            0,
            "max",
            f"{_total(after)} calls in that cycle",
        ),
    ]


async def _idle(p: Pair, sizes: CostSizes, result: ScenarioResult) -> None:
    cpu: list[float] = []
    wall: list[float] = []
    cycles: list[dict[str, Calls]] = []
    for _ in range(IDLE_CYCLES):
        await p.advance(SETTLE_SECONDS)
        await p.reset_stats()
        started_cpu, started = time.process_time(), time.perf_counter()
        run = await p.sync()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        if any(r.outcomes for r in run.results):
            raise RuntimeError(f"an idle cycle did something: {[r.counts for r in run.results]}")
        cycles.append(await p.calls())
    worst = max(cycles, key=_total)
    result.details["idle_calls"] = _calls_json(worst)
    result.details["idle_totals"] = [_total(c) for c in cycles]
    session = sum(c.session for c in worst.values())
    what = f"{sizes.customers} linked customers"
    if sizes.orders:
        what += f", {sizes.orders} orders"
    if sizes.articles:
        what += f", {sizes.articles} articles"
    result.figures += [
        Figure(
            "idle",
            f"API calls per idle cycle ({what})",
            _total(worst),
            "calls",
            8,
            "max",
            f"worst of {IDLE_CYCLES} cycles ({', '.join(str(_total(c)) for c in cycles)}); "
            f"{session} of them token refreshes, sign-ins or setup checks",
        ),
        Figure(
            "idle",
            "CPU time per idle cycle",
            round(statistics.median(cpu), 3),
            "s",
            1.0,
            "max",
            f"median of {IDLE_CYCLES}; wall {statistics.median(wall):.2f} s",
        ),
    ]


async def run_api_cost(workdir: Path, sizes: CostSizes) -> ScenarioResult:
    """Import, then measure an incremental cycle, the cycle after it, and idle cycles."""
    result = ScenarioResult()
    async with pair(workdir, rate_limit=False) as p:
        await _import(p, sizes, result)
        await _incremental(p, sizes, result)
        await _idle(p, sizes, result)
    result.figures.append(
        Figure(
            "setup",
            f"initial import of {sizes.customers} customers into webCRM (no rate limits)",
            result.details["import_seconds"],
            "s",
        )
    )
    return result
