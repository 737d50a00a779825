"""Emulator: the kit's faults in webCRM's own shapes (5xx, forced 429, spurious 401, drops)."""

from __future__ import annotations

import httpx
import pytest

from webcrm_fortnox.emulation import EmulatedConnectionDrop


async def faults(api: httpx.AsyncClient, **settings: object) -> None:
    response = await api.put("/_emulator/faults", json=settings)
    assert response.status_code == 200, response.text


async def test_forced_server_errors_use_the_message_and_type_shape(
    webcrm_api: httpx.AsyncClient,
) -> None:
    await faults(webcrm_api, force_5xx=2, error_status=503)
    for _ in range(2):
        response = await webcrm_api.get("/Organisations")
        assert response.status_code == 503
        assert response.json()["Type"] == "ServiceUnavailableException"
    assert (await webcrm_api.get("/Organisations")).status_code == 200


async def test_a_forced_429_carries_retry_after(webcrm_api: httpx.AsyncClient) -> None:
    await faults(webcrm_api, force_429=1)
    response = await webcrm_api.get("/Organisations")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5"
    assert response.json()["RetryAfterSeconds"] == 5


async def test_spurious_401s_refuse_valid_tokens_like_webcrm_under_load(
    webcrm_api: httpx.AsyncClient,
) -> None:
    await faults(webcrm_api, spurious_401_rate=1.0)
    response = await webcrm_api.get("/Organisations")
    assert response.status_code == 401
    assert response.content == b""
    await faults(webcrm_api)
    assert (await webcrm_api.get("/Organisations")).status_code == 200


async def test_a_response_lost_after_the_write_still_leaves_the_record(
    webcrm_api: httpx.AsyncClient,
) -> None:
    await faults(webcrm_api, drop_after_rate=1.0)
    with pytest.raises(EmulatedConnectionDrop):
        await webcrm_api.post("/Organisations", json={"OrganisationName": "Ghost write"})
    await faults(webcrm_api)
    names = [o["OrganisationName"] for o in (await webcrm_api.get("/Organisations")).json()]
    assert names == ["Ghost write"]


async def test_a_connection_dropped_before_processing_writes_nothing(
    webcrm_api: httpx.AsyncClient,
) -> None:
    await faults(webcrm_api, drop_rate=1.0)
    with pytest.raises(EmulatedConnectionDrop):
        await webcrm_api.post("/Organisations", json={"OrganisationName": "Never"})
    await faults(webcrm_api)
    assert (await webcrm_api.get("/Organisations")).json() == []
