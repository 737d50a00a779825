"""The one line saying why a tenant stopped: credentials refused, by auth mode and system."""

from __future__ import annotations

from pathlib import Path

from tests.domain.tenants import make_tenant
from webcrm_fortnox.errors import ReconnectNeeded
from webcrm_fortnox.service.runner import TenantPlace, stopped_message

PLACE = TenantPlace(Path("webcrm-fortnox.toml"), 0)


def refused(system: str, code: str, message: str) -> ReconnectNeeded:
    return ReconnectNeeded("refused", system=system, status=401, code=code, vendor_message=message)


def test_a_service_account_is_told_to_check_its_client_settings() -> None:
    tenant = make_tenant(fortnox={"auth": "service-account", "tenant_id": 7})
    line = stopped_message(refused("fortnox", "invalid_client", "Bad secret"), tenant, PLACE)
    assert line == (
        "Fortnox: the client credentials were refused (invalid_client: Bad secret); check "
        "tenant[0].fortnox.client_secret in webcrm-fortnox.toml, and fortnox.client_id and "
        "fortnox.tenant_id beside it"
    )
    assert "connect" not in line


def test_an_authorization_code_tenant_is_told_to_connect_again() -> None:
    tenant = make_tenant(name="acme", fortnox={"auth": "authorization-code"})
    grant = stopped_message(refused("fortnox", "invalid_grant", "Token expired"), tenant, PLACE)
    assert grant == (
        "Fortnox: the company's stored grant was refused (invalid_grant: Token expired): "
        "revoked, expired or already used; connect again: "
        "`webcrm-fortnox connect fortnox --tenant acme`"
    )
    client = stopped_message(refused("fortnox", "invalid_client", "No"), tenant, PLACE)
    assert "tenant[0].fortnox.client_secret in webcrm-fortnox.toml" in client
    assert client.endswith("connect again: `webcrm-fortnox connect fortnox --tenant acme`")


def test_a_webcrm_token_names_its_setting_without_a_place() -> None:
    line = stopped_message(refused("webcrm", "invalid_token", "Unknown"), make_tenant())
    assert line.startswith(
        "webCRM: the API token was refused (invalid_token: Unknown); check webcrm.api_token in "
        "the configuration"
    )
