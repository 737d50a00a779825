"""The two demo companies sync out of the box with the default field table."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.harness import systems, tenant
from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.service.demo import DemoOptions, _emulators
from webcrm_fortnox.store import StateDatabase


async def test_the_demo_systems_sync_with_the_default_configuration(db: StateDatabase) -> None:
    async with systems(fortnox_seed="demo", webcrm_seed="demo") as env:
        config = tenant()
        run = await env.sync(config, db)
        assert run.setup_problems == []
        assert run.exit_code == 0, [o.detail for r in run.results for o in r.needing_attention]
        # Every synced demo organisation's terms of payment is a code Fortnox knows.
        terms = {c["TermsOfPayment"] for c in await env.customers_in_full()}
        assert terms <= {"", "0", "10", "15", "20", "30", "AG", "K", "PF"}
        await env.reset_stats()
        env.clock.advance(60)
        assert (await env.sync(config, db)).exit_code == 0
        assert await env.writes() == {"fortnox": 0, "webcrm": 0}


async def test_the_demo_emulators_date_their_answers_once(tmp_path: Path) -> None:
    # The webCRM client reads webCRM's clock from ``Date``; the server adding its own beside
    # the emulator's made the pair unreadable, and every change read started from scratch.
    clock = EmulatorClock()
    async with _emulators(tmp_path, DemoOptions(), clock) as urls, httpx.AsyncClient() as http:
        for url in urls:
            answer = await http.get(f"{url}/_emulator/stats")
            assert len(answer.headers.get_list("date")) == 1, answer.headers
