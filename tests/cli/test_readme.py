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


def test_the_readme_shows_each_field_policy_key_in_a_valid_example() -> None:
    section = README.read_text(encoding="utf-8").split("## Sync customers", 1)[1]
    minimal, example = (block.split("```", 1)[0] for block in section.split("```toml\n")[1:3])
    assert "[tenant.field_policy." in example
    config = parse_config(
        tomllib.loads(minimal + example),
        README,
        environ={"FORTNOX_CLIENT_SECRET": "emulator-secret"},
    )
    (tenant,) = config.tenant
    phone = tenant.field_policy["phone"]
    assert (phone.direction, phone.conflict, phone.blank_overwrites) == ("both", "manual", True)


def test_the_readme_says_how_to_set_the_secret_env_names_and_why_syncs_wait() -> None:
    text = README.read_text(encoding="utf-8")
    assert "export FORTNOX_CLIENT_SECRET=" in text
    assert "curl -s -X PUT" in text and "/3/customers/1" in text and "/Organisations/1" in text
    assert "--no-rate-limit" in text.split("## Sync customers", 1)[0]
    assert "`--config FILE` before or after any command" in text
