"""The product's own Fortnox limiter against the emulator's enforced window (25 per 5 s).

The connector is built as the product builds it, with its default rate; only time is the
emulators' clock, advanced by every wait instead of slept. A burst of concurrent requests for
one company must meet no 429 and still use most of what Fortnox allows.
"""

from __future__ import annotations

import asyncio

from tests.e2e.harness import systems, tenant
from webcrm_fortnox.fortnox.emulator.app import RATE_LIMIT

#: simulated seconds the burst lasts: a dozen of Fortnox's windows
DURATION = 60.0
WORKERS = 4


async def test_a_burst_through_the_connector_meets_no_429_and_keeps_the_rate() -> None:
    limit, period = RATE_LIMIT
    async with (
        systems(fortnox_rate_limit=True) as env,
        env.connector.clients(tenant()) as clients,
    ):
        fortnox = clients.fortnox
        await fortnox.company_information()  # the token, and a first request
        env.clock.advance(period)  # an empty window to start from
        await env.reset_stats()
        start = env.clock.monotonic()
        answered: list[float] = []

        async def worker() -> None:
            while env.clock.monotonic() - start < DURATION:
                await fortnox.company_information()
                answered.append(env.clock.monotonic() - start)

        await asyncio.gather(*(worker() for _ in range(WORKERS)))

        rows = (await env.fortnox_api.get("/_emulator/stats")).json()["requests"]
        refused = sum(row["count"] for row in rows if row["status"] == 429)
        assert refused == 0 and fortnox.stats["rate_limited"] == 0
        in_time = [t for t in answered if t < DURATION]
        rate = len(in_time) / DURATION
        assert rate >= 0.9 * limit / period, f"{rate:.2f} requests/s"
