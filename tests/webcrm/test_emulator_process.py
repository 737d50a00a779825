"""Emulator: ``webcrm-fortnox emulate webcrm`` as a real process, over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from tests.support.servers import cli_server

from webcrm_fortnox.webcrm.emulator import DEFAULT_API_TOKEN


@pytest.mark.e2e
def test_the_command_serves_the_api_on_a_port() -> None:
    with (
        cli_server("emulate", "webcrm", "--seed", "empty") as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        login = http.post("/Auth/ApiLogin", data={"authCode": DEFAULT_API_TOKEN})
        assert login.status_code == 200
        bearer = {"Authorization": f"Bearer {login.json()['AccessToken']}"}
        assert http.get("/Organisations", headers=bearer).json() == []
        created = http.post(
            "/Organisations", json={"OrganisationName": "Över nätet AB"}, headers=bearer
        )
        org_id = created.json()["OrganisationId"]
        found = http.get(
            "/Queries",
            params={
                "script": "SELECT OrganisationId FROM Organisation "
                "WHERE OrganisationName = 'över nätet ab'"
            },
            headers=bearer,
        )
        assert found.json() == [{"OrganisationId": org_id}]
        assert http.get("/Organisations").status_code == 401
        stats = http.get("/_emulator/stats").json()
        assert stats["total"] >= 4
