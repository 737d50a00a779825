"""Writing a configuration file that loads back to the same configuration."""

from __future__ import annotations

import stat
from pathlib import Path

from webcrm_fortnox.config import (
    Config,
    FieldPolicy,
    FortnoxSettings,
    StateSettings,
    TenantConfig,
    WebcrmFields,
    WebcrmSettings,
    load_config,
    write_config,
)

ENV = {"WEBCRM_TOKEN": "token-value", "FORTNOX_SECRET": "secret-value"}


def demo_config() -> Config:
    context = {"environ": ENV}
    tenant = TenantConfig.model_validate(
        {
            "name": "demo",
            "customer_types": ["Customer", "Private Customer"],
            "private_customer_types": ["Private Customer"],
            "new_customer_type": "Customer",
            "allow_insecure_http": True,
            "webcrm": WebcrmSettings.model_validate(
                {"base_url": "http://127.0.0.1:8782", "api_token": "env:WEBCRM_TOKEN"},
                context=context,
            ),
            "fortnox": FortnoxSettings.model_validate(
                {
                    "base_url": "http://127.0.0.1:8781",
                    "client_id": "emulator",
                    "client_secret": 'literal "quoted" secret',
                    "tenant_id": 1,
                },
                context=context,
            ),
            "fields": WebcrmFields(email="", fax="OrganisationXText1"),
            "field_policy": {"phone": FieldPolicy(direction="to_webcrm")},
        },
        context=context,
    )
    return Config(state=StateSettings(url="sqlite:////var/lib/sync/demo.db"), tenant=[tenant])


def test_a_written_config_loads_back_equal(tmp_path: Path) -> None:
    config = demo_config()
    path = write_config(tmp_path / "demo" / "webcrm-fortnox.toml", config)
    assert load_config(path, environ=ENV) == config


def test_env_references_are_written_not_their_values(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.toml", demo_config())
    text = path.read_text(encoding="utf-8")
    assert 'api_token = "env:WEBCRM_TOKEN"' in text
    assert "token-value" not in text
    assert "[tenant.field_policy.phone]" in text
    # Unchanged field mappings are left to their defaults.
    assert "OrganisationExtraCustom1" not in text
    assert 'fax = "OrganisationXText1"' in text


def test_the_file_is_private_to_its_owner(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.toml", demo_config())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
