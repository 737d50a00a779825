"""The fault matrix, in-process: each fault the vendors' APIs show, on both emulators at once.

For each: every run completes or stops with a reason (never raises), and after the faults
are gone one recovery cycle leaves no duplicate, no lost edit, every record linked once, both
sides equal, and a further sync that writes nothing (:mod:`tests.reliability.scenario`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.harness import Systems
from tests.reliability.scenario import Scenario
from tests.reliability.taps import DROPPED, Tap
from webcrm_fortnox.store import StateDatabase

# fault → (its settings, how some of the sync's requests must have ended)
FAULTS: dict[str, tuple[dict[str, Any], int | str]] = {
    "bursts of 429": ({"force_429": 40}, 429),
    "a run of 500s": ({"force_5xx": 12, "error_status": 500}, 500),
    "random 502s": ({"error_rate": 0.25, "error_status": 502}, 502),
    "random 503s": ({"error_rate": 0.25, "error_status": 503}, 503),
    "connections dropped before processing": ({"drop_rate": 0.2}, DROPPED),
    # The duplicate-maker: the vendor acted, the answer never arrived.
    "responses lost after processing": ({"drop_after_rate": 0.2}, DROPPED),
    "everything at once": (
        {
            "error_rate": 0.1,
            "error_status": 502,
            "drop_rate": 0.1,
            "drop_after_rate": 0.1,
            "force_429": 5,
        },
        429,
    ),
}


async def put_faults(api: httpx.AsyncClient, **settings: Any) -> None:
    response = await api.put("/_emulator/faults", json=settings)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_faults_on_both_sides(env: Systems, db: StateDatabase, fault: str, seed: int) -> None:
    async def toggle(on: bool) -> None:
        settings = {**FAULTS[fault][0], "seed": seed} if on else {}
        await put_faults(env.fortnox_api, **settings)
        await put_faults(env.webcrm_api, **settings)

    scenario = Scenario(env, db, toggle)
    await scenario.play()
    assert scenario.endings()[FAULTS[fault][1]] > 0
    await scenario.recover_and_check()


@pytest.mark.parametrize("rate", [0.2, 0.5])
async def test_webcrm_spurious_401s(env: Systems, db: StateDatabase, rate: float) -> None:
    async def toggle(on: bool) -> None:
        await put_faults(env.webcrm_api, **({"spurious_401_rate": rate, "seed": 3} if on else {}))

    scenario = Scenario(env, db, toggle)
    await scenario.play()
    assert scenario.endings()[401] > 0
    await scenario.recover_and_check()


@pytest.mark.parametrize("every", [5, 17])
async def test_tokens_expiring_mid_run(env: Systems, db: StateDatabase, every: int) -> None:
    """Every access token of a system expires after each ``every``-th request of a run."""
    active = False

    async def expire(tap: Tap, number: int, request: httpx.Request) -> None:
        if active and number % every == 0:
            await tap.control("POST", "/_emulator/tokens/expire")

    async def toggle(on: bool) -> None:
        nonlocal active
        active = on
        if not on:
            # The people's own sessions expired too: let them log in again.
            await env.fortnox.transport.auth.invalidate(await env.fortnox.transport.auth.headers())
            await env.webcrm.auth.invalidate(await env.webcrm.auth.headers())

    scenario = Scenario(env, db, toggle, before=expire)
    await scenario.play()
    assert scenario.endings()[401] > 0
    # The tokens did expire under the runs, and the runs carried on with new ones.
    assert all(not run.stopped for run in scenario.runs), [r.reason for r in scenario.runs]
    await scenario.recover_and_check()
