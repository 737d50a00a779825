"""Benchmark 7: the administrator's fleet page over HTTP at many tenants.

Setup: the fleet benchmark's store (``bench.fleet``: registered tenants with health, schedule,
lag, cycles, and for one in ten open errors and conflicts), the page served on a loopback port
as ``webcrm-fortnox admin`` serves it, an operator signed in. Each way a person reads the fleet
(the whole page, a late page, the rows filtered by health, by a name, by "has errors") is timed
end to end, request to last byte, as the median of ``repeats`` reads, at a tenth of the tenants
and at all of them side by side: rendering a page of 50 should cost about the same at any size.

The target: a page in under 250 ms at 5,000 tenants (the read model's 100 ms, plus rendering,
the session check and HTTP).
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import httpx

from bench.figures import Figure, ScenarioResult
from bench.fleet import NOW, FleetSizes, _fill
from webcrm_fortnox.config.models import AdminSettings
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.web.security import hash_password
from webcrm_fortnox.web.serve import admin_site

TARGET_MS = 250.0
_PASSWORD = "bench-password"


async def _median_ms(http: httpx.AsyncClient, path: str, repeats: int) -> float:
    (await http.get(path)).raise_for_status()  # warms the pool, the templates' cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = await http.get(path)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return statistics.median(times)


async def _pages(url: str, count: int, repeats: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url) as http:
        form = (await http.get("/login")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        data = {"csrf": csrf.group(1), "name": "bench", "password": _PASSWORD}
        signed_in = await http.post("/login", data=data)
        assert signed_in.status_code == 303, signed_in.text
        shapes = {
            "first page": "/fleet",
            "late page": f"/fleet?page={count // 50 - 1}",
            "failing": "/fleet/rows?health=failing",
            "name": "/fleet/rows?name=0042",
            "has errors": "/fleet/rows?errors=yes",
        }
        return {name: await _median_ms(http, path, repeats) for name, path in shapes.items()}


async def run_admin_page(workdir: Path, sizes: FleetSizes) -> ScenarioResult:
    """Time the fleet page over HTTP at a tenth of the tenants and at all of them (SQLite)."""
    settings = AdminSettings.model_validate(
        {"user": [{"name": "bench", "password_hash": hash_password(_PASSWORD)}]}
    )
    measured: dict[int, dict[str, float]] = {}
    for count in (sizes.tenants // 10, sizes.tenants):
        db = await StateDatabase.open(f"sqlite:///{workdir}/admin-{count}.db", clock=lambda: NOW)
        try:
            await _fill(db, count, sizes.cycles)
            async with admin_site(db, settings, configured=[]) as url:
                measured[count] = await _pages(url, count, sizes.repeats)
        finally:
            await db.close()
    small, full = sorted(measured)
    result = ScenarioResult(details={str(n): shapes for n, shapes in measured.items()})
    for shape, ms in measured[full].items():
        ratio = ms / measured[small][shape] if measured[small][shape] else 0.0
        result.figures.append(
            Figure(
                "admin page",
                f"fleet {shape} over HTTP, {full:,} tenants",
                round(ms, 1),
                "ms",
                target=TARGET_MS,
                kind="max",
                note=f"{ratio:.1f}x the time at {small:,} tenants; median of {sizes.repeats}",
            )
        )
    return result
