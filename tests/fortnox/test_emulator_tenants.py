"""Several companies in one process, the rate limit per client and company, and the controls."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from tests.fortnox.fixtures.emulator import access_token, bearer, client_for

from webcrm_fortnox.emulation import EmulatorClock


async def test_rate_limit_is_25_per_5_seconds_per_client_and_tenant(
    fortnox_app: FastAPI, fortnox_http: httpx.AsyncClient, fortnox_clock: EmulatorClock
) -> None:
    other = (await fortnox_http.post("/_emulator/tenants", json={})).json()["tenant_id"]
    first, second = bearer(access_token(fortnox_app)), bearer(access_token(fortnox_app))
    for i in range(25):
        headers = first if i % 2 else second  # two tokens of one client share the window
        assert (await fortnox_http.get("/3/units", headers=headers)).status_code == 200
    limited = await fortnox_http.get("/3/units", headers=first)
    assert limited.status_code == 429
    assert limited.json() == {"message": "Too Many Requests"}
    assert "retry-after" not in limited.headers
    # another company's window is its own
    other_headers = bearer(access_token(fortnox_app, other))
    assert (await fortnox_http.get("/3/units", headers=other_headers)).status_code == 200
    fortnox_clock.advance(5)
    assert (await fortnox_http.get("/3/units", headers=first)).status_code == 200


async def test_rate_limit_can_be_switched_off() -> None:
    from webcrm_fortnox.fortnox.emulator import create_app

    app = create_app(seed="empty", rate_limit=False)
    async with client_for(app, access_token(app)) as api:
        statuses = {(await api.get("/3/units")).status_code for _ in range(30)}
    assert statuses == {200}


async def test_tenants_have_their_own_data_and_numbering(
    fortnox_app: FastAPI, fortnox_http: httpx.AsyncClient
) -> None:
    added = await fortnox_http.post(
        "/_emulator/tenants", json={"tenant_id": 77, "company_name": "Sjuttiosju AB"}
    )
    assert added.json() == {"tenant_id": 77}
    one, seventy_seven = bearer(access_token(fortnox_app)), bearer(access_token(fortnox_app, 77))
    a = await fortnox_http.post("/3/customers", json={"Customer": {"Name": "Ett"}}, headers=one)
    b = await fortnox_http.post(
        "/3/customers", json={"Customer": {"Name": "Sju"}}, headers=seventy_seven
    )
    assert a.json()["Customer"]["CustomerNumber"] == b.json()["Customer"]["CustomerNumber"] == "1"
    listed = (await fortnox_http.get("/3/customers", headers=seventy_seven)).json()
    assert [c["Name"] for c in listed["Customers"]] == ["Sju"]
    info = (await fortnox_http.get("/3/companyinformation", headers=seventy_seven)).json()
    assert info["CompanyInformation"]["CompanyName"] == "Sjuttiosju AB"


async def test_request_statistics_by_tenant_method_route_and_status(
    api: httpx.AsyncClient, fortnox_http: httpx.AsyncClient
) -> None:
    await fortnox_http.delete("/_emulator/stats")
    await api.get("/3/customers/")
    await api.get("/3/customers/1")
    await api.post("/3/customers", json={"Customer": {"Name": "A"}})
    stats = (await fortnox_http.get("/_emulator/stats", params={"tenant": "1"})).json()
    rows = {(r["method"], r["route"], r["status"]): r["count"] for r in stats["requests"]}
    assert rows == {
        ("GET", "/3/customers", 200): 1,
        ("GET", "/3/customers/{key}", 404): 1,
        ("POST", "/3/customers", 201): 1,
    }


async def test_seed_reset_and_clock_controls(
    api: httpx.AsyncClient, fortnox_http: httpx.AsyncClient
) -> None:
    seeded = await fortnox_http.post("/_emulator/seed", json={"seed": "demo", "customers": 40})
    assert seeded.json()["counts"]["customers"] == 40
    customers = (await api.get("/3/customers")).json()
    assert customers["MetaInformation"]["@TotalResources"] == 40
    invoices = (await api.get("/3/invoices")).json()["Invoices"]
    assert invoices and all(i["CustomerName"] for i in invoices)
    before = (await fortnox_http.get("/_emulator/clock")).json()["offset_seconds"]
    moved = (await fortnox_http.post("/_emulator/clock/advance", json={"seconds": 90})).json()
    assert moved["offset_seconds"] == before + 90
    await fortnox_http.post("/_emulator/reset")
    assert (await api.get("/3/customers")).status_code == 401  # tokens are gone too


async def test_faults_make_the_api_fail_as_fortnox_does(
    api: httpx.AsyncClient, fortnox_http: httpx.AsyncClient
) -> None:
    await fortnox_http.put("/_emulator/faults", json={"force_5xx": 1, "force_429": 1})
    limited = await api.get("/3/units")
    assert limited.status_code == 429
    down = await api.get("/3/units")
    assert down.status_code == 503
    assert down.headers["content-type"].startswith("text/html")
    assert (await api.get("/3/units")).status_code == 200
