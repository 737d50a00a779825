"""Benchmark 5: what ten idle tenants of one Fortnox integration cost in one ``run``.

Setup: both emulators run as processes at the vendors' real rate limits, with ``tenants``
companies in Fortnox (one integration, each company its own ``TenantId``) and as many webCRM
systems. Each company holds ``customers`` customers and a few articles; webCRM starts empty.
``webcrm-fortnox run --config FILE`` starts as a process with one ``[[tenant]]`` per pair, the
webCRM poll every ``poll_seconds``, Fortnox's change feed, and cycles an hour apart, so that the
window measured lies between cycles. The service imports every tenant at start; once each has
synced and nothing has started a sync for :data:`~bench.latency.QUIET` seconds (or after
``patience`` seconds in any case), the emulators count every request over ``window`` seconds in
which nothing changes.

The target: Fortnox less than one request per tenant-minute between cycles. While the change
feed carries a tenant, nothing need be asked of Fortnox for it until its next cycle; a tenant
the subscription left out falls back to polling Fortnox at every webCRM poll.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.emulators import Calls, EmulatorControl, emulator_process
from bench.figures import Figure, ScenarioResult
from bench.latency import QUIET, metric_sums, service_process, tenant_table
from webcrm_fortnox.service.http_server import free_port

#: Fortnox requests per tenant-minute between cycles, at most (issue: 24.5 measured before).
TARGET = 1.0
#: The cycle of every tenant: an hour, so that the measured window lies between two cycles.
CYCLE_SECONDS = 3600


@dataclass(frozen=True)
class IdleTenantSizes:
    """How many tenants, how big, and how long they are watched.

    Attributes:
        tenants: tenants of the one integration.
        customers: Fortnox customers of each company.
        poll_seconds: each tenant's ``webcrm_poll_seconds``.
        window: seconds of idle service measured.
        patience: the longest wait for the service to settle after it starts.
    """

    tenants: int
    customers: int
    poll_seconds: int
    window: float
    patience: float


async def _arrange(
    fortnox: EmulatorControl, webcrm: EmulatorControl, sizes: IdleTenantSizes
) -> list[tuple[int, str]]:
    """Companies and systems for every tenant: (Fortnox TenantId, webCRM token) of each."""
    pairs: list[tuple[int, str]] = []
    for index in range(sizes.tenants):
        company = index + 1
        if company > 1:  # the emulator's default company is 1, its default system the first
            await fortnox.add_tenant(tenant_id=company, seed="empty")
        token = (await webcrm.add_tenant(api_token=str(uuid.uuid4()), seed="empty"))["api_token"]
        await fortnox.seed(
            str(company), customers=sizes.customers, articles=3, orders=0, invoices=0
        )
        pairs.append((company, str(token)))
    return pairs


async def _health(http: httpx.AsyncClient) -> dict[str, Any]:
    try:
        return dict((await http.get("/healthz")).json())
    except (httpx.HTTPError, ValueError):
        return {}


async def _settle(http: httpx.AsyncClient, tenants: int, patience: float) -> dict[str, Any]:
    """Wait until every tenant has synced and is well, the feed is live and no sync has started
    for :data:`QUIET` seconds; what ``/healthz`` said then, and whether it settled."""
    deadline = time.monotonic() + patience
    last, quiet_since = -1, time.monotonic()
    while True:
        health = await _health(http)
        states = health.get("tenants", {})
        syncs = sum(int(t.get("syncs", 0)) for t in states.values())
        if syncs != last:
            last, quiet_since = syncs, time.monotonic()
        feeds = health.get("change_feeds", {})
        ready = (
            len(states) == tenants
            and all(t.get("state") == "ok" for t in states.values())
            and bool(feeds)
            and all(f.get("live") for f in feeds.values())
        )
        if ready and time.monotonic() - quiet_since >= QUIET:
            return {"settled": True, "syncs": syncs}
        if time.monotonic() > deadline:
            return {"settled": False, "syncs": syncs, "health": health}
        await asyncio.sleep(0.2)


def _syncs_by_trigger(metrics: str) -> dict[str, float]:
    return metric_sums(metrics).get("webcrm_fortnox_syncs_total", {})


async def _metrics(http: httpx.AsyncClient) -> str:
    try:
        return (await http.get("/metrics")).text
    except httpx.HTTPError:
        return ""


async def run_idle_tenants(workdir: Path, sizes: IdleTenantSizes) -> ScenarioResult:
    """Start ``run`` with the tenants, let it import and settle, count an idle window."""
    folder = workdir / "idle-tenants"
    folder.mkdir(parents=True, exist_ok=True)
    details: dict[str, Any] = {"tenants": sizes.tenants, "customers_each": sizes.customers}
    with (
        emulator_process("fortnox", rate_limit=True, log=folder / "fortnox.log") as f_url,
        emulator_process("webcrm", rate_limit=True, log=folder / "webcrm.log") as w_url,
    ):
        fortnox, webcrm = EmulatorControl(f_url), EmulatorControl(w_url)
        try:
            pairs = await _arrange(fortnox, webcrm, sizes)
            config = folder / "webcrm-fortnox.toml"
            body = "".join(
                tenant_table(
                    f"tenant-{i:02d}",
                    f_url,
                    w_url,
                    api_token=token,
                    company=company,
                    cycle_seconds=CYCLE_SECONDS,
                    poll_seconds=sizes.poll_seconds,
                )
                for i, (company, token) in enumerate(pairs)
            )
            config.write_text(f'[state]\nurl = "sqlite:///{folder / "state.db"}"\n{body}')
            port = free_port()
            with service_process(config, port, folder / "service.log"):
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=10
                ) as http:
                    started = time.monotonic()
                    details["start"] = await _settle(http, sizes.tenants, sizes.patience)
                    details["start"]["seconds"] = round(time.monotonic() - started, 1)
                    # The start-up's cost: each tenant's first cycle and its feed catch-up.
                    details["start_calls"] = {
                        "fortnox": (await fortnox.calls()).by_route(),
                        "webcrm": (await webcrm.calls()).by_route(),
                    }
                    calls, syncs = await _idle_window(http, fortnox, webcrm, sizes.window)
        finally:
            await fortnox.close()
            await webcrm.close()
    details["idle_calls"] = {system: c.by_route() for system, c in calls.items()}
    details["idle_429"] = {system: c.rate_limited for system, c in calls.items()}
    details["idle_syncs_by_trigger"] = syncs
    return _result(sizes, calls, syncs, details)


async def _idle_window(
    http: httpx.AsyncClient, fortnox: EmulatorControl, webcrm: EmulatorControl, window: float
) -> tuple[dict[str, Calls], dict[str, float]]:
    """The requests both emulators counted, and the syncs ``run`` started by trigger, over
    ``window`` seconds in which nothing changes."""
    await fortnox.reset_stats()
    await webcrm.reset_stats()
    before = _syncs_by_trigger(await _metrics(http))
    await asyncio.sleep(window)
    calls = {"fortnox": await fortnox.calls(), "webcrm": await webcrm.calls()}
    after = _syncs_by_trigger(await _metrics(http))
    syncs = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    return calls, syncs


def _result(
    sizes: IdleTenantSizes,
    calls: dict[str, Calls],
    syncs: dict[str, float],
    details: dict[str, Any],
) -> ScenarioResult:
    tenant_minutes = sizes.tenants * sizes.window / 60.0
    note = (
        f"{sizes.tenants} tenants of one integration in one run, {sizes.window:.0f} s between "
        f"cycles, webCRM polled every {sizes.poll_seconds} s; the emulators' counts"
    )
    return ScenarioResult(
        figures=[
            Figure(
                "idle-tenants",
                "Fortnox requests per tenant-minute",
                round(calls["fortnox"].total / tenant_minutes, 2),
                "requests",
                TARGET,
                "max",
                note,
            ),
            Figure(
                "idle-tenants",
                "webCRM requests per tenant-minute",
                round(calls["webcrm"].total / tenant_minutes, 2),
                "requests",
                note="the cheap /Queries poll of three tables",
            ),
            Figure(
                "idle-tenants",
                "syncs per tenant-minute",
                round(sum(syncs.values()) / tenant_minutes, 2),
                "syncs",
                note=", ".join(f"{k} ×{v:.0f}" for k, v in sorted(syncs.items())) or "none",
            ),
        ],
        details=details,
    )
