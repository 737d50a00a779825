"""Tenant configurations for tests, built through the same validation as a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from webcrm_fortnox.config import TenantConfig, parse_config


def make_tenant(**overrides: Any) -> TenantConfig:
    """A valid tenant (types Customer / Private Customer) with ``overrides`` laid over it."""
    data: dict[str, Any] = {
        "name": "acme",
        "customer_types": ["Customer", "Private Customer"],
        "private_customer_types": ["Private Customer"],
        "new_customer_type": "Customer",
        "allow_insecure_http": True,
        "webcrm": {"api_token": "test-token"},
        "fortnox": {"client_id": "emulator", "client_secret": "emulator-secret", "tenant_id": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config({"tenant": [data]}, Path("test.toml"), environ={}).tenant[0]
