"""The two emulators' demo companies share customers, so ``match`` has pairs to show."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_sync_commands import cli, config_file
from tests.e2e.harness import systems

from webcrm_fortnox.emulation.shared_demo import SHARED_CUSTOMERS


async def test_the_demo_companies_of_both_emulators_share_customers_for_match(
    tmp_path: Path,
) -> None:
    async with systems(fortnox_seed="demo", webcrm_seed="demo") as both:
        result = await cli(both.connector, "match", "--json", "--config", config_file(tmp_path))
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["tenants"]
    pairs = entry["pairs"]
    assert len(pairs) == SHARED_CUSTOMERS
    assert all(p["key"] == "organisation number" for p in pairs)
    assert all(p["webcrm"]["name"] == p["fortnox"]["name"] for p in pairs)
    assert entry["webcrm_only"] and entry["fortnox_only"]  # and each has customers of its own
