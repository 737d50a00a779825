"""The README's minimal configuration is valid as printed."""

from __future__ import annotations

import tomllib
from pathlib import Path

from webcrm_fortnox.config import parse_config

README = Path(__file__).parents[2] / "README.md"


def test_the_readmes_minimal_configuration_is_valid() -> None:
    section = README.read_text(encoding="utf-8").split("## Sync customers", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse_config(
        tomllib.loads(block), README, environ={"FORTNOX_CLIENT_SECRET": "emulator-secret"}
    )
    (tenant,) = config.tenant
    assert tenant.fortnox.client_secret.env_name == "FORTNOX_CLIENT_SECRET"
    assert tenant.fields.customer_number == "OrganisationExtraCustom1"
