"""Emulator: several webCRM systems in one process, persistence, seeding, reset, statistics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from fastapi import FastAPI

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.webcrm.emulator import DEFAULT_API_TOKEN, WebcrmEmulator, create_app

Session = Callable[..., Awaitable[httpx.AsyncClient]]


async def test_each_application_token_reaches_its_own_system(
    webcrm_app: FastAPI, webcrm_api: httpx.AsyncClient, webcrm_session: Session
) -> None:
    added = await webcrm_api.post(
        "/_emulator/tenants", json={"api_token": "tenant-b", "seed": "empty"}
    )
    assert added.json()["api_token"] == "tenant-b"
    other = await webcrm_session(webcrm_app, "tenant-b")
    await webcrm_api.post("/Organisations", json={"OrganisationName": "Only in A"})
    assert (await other.get("/Organisations")).json() == []
    assert (await other.get("/Organisations/1")).status_code == 404
    await other.post("/Organisations", json={"OrganisationName": "Only in B"})
    names = [o["OrganisationName"] for o in (await webcrm_api.get("/Organisations")).json()]
    assert names == ["Only in A"]
    assert (await other.get("/Organisations/1")).json()["OrganisationName"] == "Only in B"


async def test_a_token_is_made_up_when_none_is_given_and_duplicates_are_refused(
    webcrm_http: httpx.AsyncClient,
) -> None:
    first = (await webcrm_http.post("/_emulator/tenants", json={"seed": "empty"})).json()
    second = (await webcrm_http.post("/_emulator/tenants", json={"seed": "empty"})).json()
    assert first["api_token"] != second["api_token"]
    again = await webcrm_http.post("/_emulator/tenants", json={"api_token": first["api_token"]})
    assert again.status_code == 409
    bad = await webcrm_http.post("/_emulator/tenants", json={"seed": "huge"})
    assert bad.status_code == 400


async def test_state_survives_a_restart_with_a_data_file(
    tmp_path: Path, webcrm_clock: EmulatorClock, webcrm_session: Session
) -> None:
    data = tmp_path / "webcrm.sqlite"
    first = create_app(data=data, seed="empty", clock=webcrm_clock)
    api = await webcrm_session(first)
    await api.post("/_emulator/tenants", json={"api_token": "tenant-b", "seed": "empty"})
    await api.put("/_emulator/settings", json={"unique_fields": ["OrganisationExtraCustom2"]})
    await api.post("/Organisations", json={"OrganisationName": "Kept AB"})
    first.state.webcrm.kit.storage.close()

    second = create_app(data=data, seed="demo", clock=webcrm_clock)  # the file wins over seed
    api = await webcrm_session(second)
    assert [o["OrganisationName"] for o in (await api.get("/Organisations")).json()] == ["Kept AB"]
    created = await api.post("/Organisations", json={"OrganisationName": "Next AB"})
    assert created.json()["OrganisationId"] == 2  # the id sequence continues
    settings = (await api.get("/_emulator/settings")).json()
    assert settings["unique_fields"] == ["OrganisationExtraCustom2"]
    assert (await webcrm_session(second, "tenant-b")).headers["Authorization"]


async def test_seeding_replaces_a_systems_records(webcrm_api: httpx.AsyncClient) -> None:
    seeded = await webcrm_api.post(
        "/_emulator/seed", json={"seed": "demo", "organisations": 7, "deliveries": 3}
    )
    assert seeded.status_code == 200
    assert seeded.json()["counts"]["Organisation"] == 7
    assert len((await webcrm_api.get("/Organisations")).json()) == 7
    assert len((await webcrm_api.get("/Deliveries")).json()) == 3
    emptied = await webcrm_api.post("/_emulator/seed", json={"seed": "empty"})
    assert emptied.json()["counts"]["Organisation"] == 0
    assert (await webcrm_api.get("/Organisations")).json() == []


async def test_reset_forgets_every_system_and_token(
    webcrm_app: FastAPI, webcrm_api: httpx.AsyncClient
) -> None:
    await webcrm_api.post("/_emulator/tenants", json={"api_token": "tenant-b"})
    await webcrm_api.post("/Organisations", json={"OrganisationName": "Gone"})
    assert (await webcrm_api.post("/_emulator/reset")).status_code == 200
    assert (await webcrm_api.get("/Organisations")).status_code == 401
    emulator: WebcrmEmulator = webcrm_app.state.webcrm
    assert list(emulator.systems) == [DEFAULT_API_TOKEN]
    assert len(emulator.system(None).of("Organisation")) == 0


async def test_statistics_count_requests_by_system_route_and_status(
    webcrm_app: FastAPI, webcrm_api: httpx.AsyncClient, webcrm_session: Session
) -> None:
    await webcrm_api.post("/_emulator/tenants", json={"api_token": "tenant-b", "seed": "empty"})
    other = await webcrm_session(webcrm_app, "tenant-b")
    await webcrm_api.delete("/_emulator/stats")
    await webcrm_api.get("/Organisations/1")
    await other.get("/Organisations")
    await other.get("/Organisations")
    mine = (await webcrm_api.get("/_emulator/stats", params={"tenant": DEFAULT_API_TOKEN})).json()
    assert mine["requests"] == [
        {
            "tenant": DEFAULT_API_TOKEN,
            "method": "GET",
            "route": "/Organisations/{id:int}",
            "status": 404,
            "count": 1,
        }
    ]
    theirs = (await webcrm_api.get("/_emulator/stats", params={"tenant": "tenant-b"})).json()
    assert theirs["total"] == 2


async def test_settings_of_an_unknown_system_are_404(webcrm_http: httpx.AsyncClient) -> None:
    response = await webcrm_http.get("/_emulator/settings", params={"tenant": "nobody"})
    assert response.status_code == 404
    refused = await webcrm_http.put("/_emulator/settings", json={"unique_fields": ["OrgName"]})
    assert refused.status_code == 400


async def test_sessions_survive_a_restart_with_a_data_file(
    tmp_path: Path, webcrm_clock: EmulatorClock, webcrm_session: Session
) -> None:
    data = tmp_path / "webcrm.sqlite"
    first = create_app(data=data, seed="empty", clock=webcrm_clock)
    bearer = (await webcrm_session(first)).headers["Authorization"]
    first.state.webcrm.kit.storage.close()

    second = create_app(data=data, seed="empty", clock=webcrm_clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second),
        base_url="https://api.webcrm.com",
        headers={"Authorization": bearer},
    ) as client:
        assert (await client.get("/Organisations")).status_code == 200
