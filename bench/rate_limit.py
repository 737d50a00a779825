"""Benchmark 3: the initial import webCRM → Fortnox at the vendors' real rate limits.

Both emulators enforce their limits (Fortnox 25 requests per sliding 5 s per client and company,
webCRM 250 per sliding minute per token) in real time; webCRM holds ``organisations`` seeded
organisations (some of a Type that does not sync) and Fortnox none. The product's first sync
runs for ``seconds``; the requests each emulator served in that window, and the 429s, are read
from their statistics, and the sync is then stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from bench.figures import Figure, ScenarioResult
from bench.pair import pair
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN

FORTNOX_RATE = 25 / 5.0
WEBCRM_RATE = 250 / 60.0


async def run_rate_limit(workdir: Path, *, seconds: float, organisations: int) -> ScenarioResult:
    """Import for ``seconds`` of real time; Fortnox requests per second ÷ 5.0, and 429s."""
    result = ScenarioResult()
    async with pair(workdir, rate_limit=True) as p:
        await p.webcrm.seed(
            DEFAULT_API_TOKEN,
            "demo",
            organisations=organisations,
            persons_per_organisation=0,
            deliveries=0,
            products=0,
        )
        await p.reset_stats()
        started = time.monotonic()
        sync = asyncio.create_task(p.sync())
        await asyncio.wait({sync}, timeout=seconds)
        elapsed = time.monotonic() - started
        calls = await p.calls()
        finished = sync.done()
        sync.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sync
    fortnox, webcrm = calls["fortnox"], calls["webcrm"]
    # The token request is OAuth, outside the API's limit (the emulator does not count it).
    fortnox_api = fortnox.total - fortnox.session
    created = fortnox.by_route().get("POST /3/customers", 0)
    result.details["rate_limit_calls"] = {s: c.by_route() for s, c in calls.items()}
    note = f"{fortnox_api} Fortnox requests in {elapsed:.1f} s, {created} customers created"
    if finished:
        note += "; the import finished inside the window"
    result.figures += [
        Figure(
            "rate limit",
            "Fortnox requests/s ÷ 5.0 during the import",
            round(fortnox_api / elapsed / FORTNOX_RATE, 3),
            "ratio",
            0.95,
            "min",
            note,
        ),
        Figure(
            "rate limit",
            "429 answers (both systems)",
            fortnox.rate_limited + webcrm.rate_limited,
            "429s",
            0,
            "max",
        ),
        Figure(
            "rate limit",
            "webCRM requests/s ÷ 4.17 during the import",
            round(webcrm.total / elapsed / WEBCRM_RATE, 3),
            "ratio",
            note=f"{webcrm.total} webCRM requests (writing Fortnox's numbers back)",
        ),
    ]
    return result
