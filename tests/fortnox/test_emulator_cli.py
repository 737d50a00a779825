"""End to end: ``webcrm-fortnox emulate fortnox`` as a real process over real HTTP."""

from __future__ import annotations

import base64

import httpx
import pytest
from tests.support.servers import cli_server


@pytest.mark.e2e
def test_real_process_serves_oauth_and_the_api() -> None:
    with cli_server("emulate", "fortnox", "--seed", "empty", "--tenant-id", "42") as url:
        basic = base64.b64encode(b"emulator:emulator-secret").decode()
        token = httpx.post(
            url + "/oauth-v1/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}", "TenantId": "42"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            url + "/3/customers/", json={"Customer": {"Name": "Riktig AB"}}, headers=headers
        )
        assert created.status_code == 201
        assert created.headers["location"] == "customers"
        number = created.json()["Customer"]["CustomerNumber"]
        read = httpx.get(f"{url}/3/customers/{number}", headers=headers)
        assert read.json()["Customer"]["Name"] == "Riktig AB"
        company = httpx.get(url + "/3/companyinformation", headers=headers).json()
        assert company["CompanyInformation"]["DatabaseNumber"] == 42
