"""``python -m bench [--quick] [--only NAME …] [--out DIR]``: run the benchmarks, print a table.

The full run (under 15 minutes on two cores) measures, against both emulators as processes:
idle and incremental API cost with 10,000 linked customers, the initial import at the real rate
limits for 65 s, propagation latency with the service running, the engine's diff + plan at
1,000 / 10,000 / 100,000 records per side, what ten idle tenants of one Fortnox integration
cost in one ``run`` between their cycles (``idle-tenants``), the CPU an idle cycle of a small
tenant costs (``idle-cycle``), one page of the admin fleet at 5,000 tenants (``fleet``, read
from the state store; ``admin-page``, the page over HTTP), and 1,000 small tenants on two
``worker`` processes and a ``feed`` over PostgreSQL (``scale``). ``--quick`` runs the same code on
small sizes, only to prove it works; its figures mean little.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.admin_page import run_admin_page
from bench.api_cost import CostSizes, run_api_cost
from bench.engine_scale import run_engine_scale
from bench.figures import ScenarioResult
from bench.fleet import FleetSizes, run_fleet
from bench.idle_cycle import IdleCycleSizes, run_idle_cycle
from bench.idle_tenants import IdleTenantSizes, run_idle_tenants
from bench.latency import LatencySizes, run_latency
from bench.rate_limit import run_rate_limit
from bench.report import table, write_results
from bench.scale import ScaleSizes, run_scale

RESULTS = Path(__file__).parent / "results"
SCENARIOS = (
    "cost",
    "rate",
    "latency",
    "engine",
    "idle-tenants",
    "idle-cycle",
    "fleet",
    "admin-page",
    "scale",
)


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is."""

    cost: CostSizes
    rate_seconds: float
    rate_organisations: int
    engine: tuple[int, ...]
    latency: LatencySizes
    idle_tenants: IdleTenantSizes
    fleet: FleetSizes
    idle_cycle: IdleCycleSizes
    scale: ScaleSizes


FULL = Sizes(
    cost=CostSizes(customers=10_000, articles=500, orders=2_000, changed=100),
    rate_seconds=65.0,
    rate_organisations=3_000,
    engine=(1_000, 10_000, 100_000),
    # 50 edits a side over two and a half minutes at webCRM's default 15 s poll (about 5 min
    # in all, so that the whole run stays under 15).
    latency=LatencySizes(
        customers=300, edits=50, window=150.0, poll_seconds=15, idle_seconds=30.0, patience=60.0
    ),
    # Ten tenants at the default 15 s poll, watched for two minutes (eight polls each).
    idle_tenants=IdleTenantSizes(
        tenants=10, customers=20, poll_seconds=15, window=120.0, patience=120.0
    ),
    fleet=FleetSizes(tenants=5_000, cycles=20, repeats=20),
    idle_cycle=IdleCycleSizes(
        tenants=10, organisations=50, deliveries=20, customers=20, articles=20, cycles=5
    ),
    # 1,000 small tenants cycling every two minutes, watched for three cycles.
    scale=ScaleSizes(
        tenants=1_000,
        organisations=50,
        deliveries=20,
        customers=20,
        articles=20,
        interval=120,
        window=360.0,
        concurrency=16,
        patience=900.0,
        edits=50,
    ),
)
QUICK = Sizes(
    cost=CostSizes(customers=200, articles=10, orders=10, changed=10),
    rate_seconds=4.0,
    rate_organisations=60,
    engine=(500, 2_000),
    latency=LatencySizes(
        customers=30, edits=5, window=5.0, poll_seconds=2, idle_seconds=4.0, patience=30.0
    ),
    idle_tenants=IdleTenantSizes(
        tenants=10, customers=3, poll_seconds=2, window=10.0, patience=40.0
    ),
    fleet=FleetSizes(tenants=200, cycles=3, repeats=3),
    idle_cycle=IdleCycleSizes(
        tenants=2, organisations=10, deliveries=3, customers=5, articles=3, cycles=2
    ),
    scale=ScaleSizes(
        tenants=100,
        organisations=2,
        deliveries=0,
        customers=2,
        articles=1,
        interval=20,
        window=25.0,
        concurrency=8,
        patience=120.0,
        edits=5,
    ),
)


def run(sizes: Sizes, only: tuple[str, ...], workdir: Path) -> dict[str, ScenarioResult]:
    """Run the chosen benchmarks; results by name, each with the seconds it took."""
    scenarios: dict[str, Callable[[], ScenarioResult]] = {
        "cost": lambda: asyncio.run(run_api_cost(workdir, sizes.cost)),
        "rate": lambda: asyncio.run(
            run_rate_limit(
                workdir, seconds=sizes.rate_seconds, organisations=sizes.rate_organisations
            )
        ),
        "latency": lambda: asyncio.run(run_latency(workdir, sizes.latency)),
        "engine": lambda: run_engine_scale(sizes.engine),
        "idle-tenants": lambda: asyncio.run(run_idle_tenants(workdir, sizes.idle_tenants)),
        "fleet": lambda: asyncio.run(run_fleet(workdir, sizes.fleet)),
        "admin-page": lambda: asyncio.run(run_admin_page(workdir, sizes.fleet)),
        "idle-cycle": lambda: asyncio.run(run_idle_cycle(workdir, sizes.idle_cycle)),
        "scale": lambda: asyncio.run(run_scale(workdir, sizes.scale)),
    }
    results: dict[str, ScenarioResult] = {}
    for name, scenario in scenarios.items():
        if name in only:
            started = time.monotonic()
            results[name] = scenario()
            results[name].details["seconds"] = round(time.monotonic() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    """The command: run, print the table, write the results; 0 unless a benchmark failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it works")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="webcrm-fortnox-bench-") as workdir:
        results = run(QUICK if args.quick else FULL, tuple(args.only), Path(workdir))
    seconds = time.monotonic() - started
    figures = [f for r in results.values() for f in r.figures]
    print(table(figures))
    json_path, charts = write_results(args.out, results, quick=args.quick, seconds=seconds)
    written = ", ".join(str(path) for path in [json_path, *charts])
    print(f"\n{len(figures)} figures in {seconds:.0f} s; written to {written}")
    return 0
