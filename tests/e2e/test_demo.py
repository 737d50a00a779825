"""The two demo companies sync out of the box with the default field table."""

from __future__ import annotations

from tests.e2e.harness import systems, tenant
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
