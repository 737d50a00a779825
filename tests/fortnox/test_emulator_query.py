"""List queries: envelope, paging, sorting, filters, lastmodified and field search."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from tests.fortnox.fixtures.emulator import access_token, client_for

from webcrm_fortnox.emulation import EmulatorClock

STOCKHOLM = ZoneInfo("Europe/Stockholm")


async def _customers(api: httpx.AsyncClient, *names: str) -> None:
    for name in names:
        response = await api.post("/3/customers", json={"Customer": {"Name": name}})
        assert response.status_code == 201


async def test_paging_with_limit_page_and_offset(api: httpx.AsyncClient) -> None:
    await _customers(api, *(f"Kund {i}" for i in range(1, 13)))
    page = (await api.get("/3/customers", params={"limit": 5, "page": 3})).json()
    assert page["MetaInformation"] == {
        "@TotalResources": 12,
        "@TotalPages": 3,
        "@CurrentPage": 3,
    }
    assert [c["CustomerNumber"] for c in page["Customers"]] == ["11", "12"]
    shifted = (await api.get("/3/customers", params={"limit": 5, "offset": 10})).json()
    assert [c["CustomerNumber"] for c in shifted["Customers"]] == ["11", "12"]
    beyond = (await api.get("/3/customers", params={"page": 9})).json()
    assert beyond["Customers"] == []
    default = (await api.get("/3/customers")).json()
    assert len(default["Customers"]) == 12  # default limit 100
    bad = await api.get("/3/customers", params={"limit": "many"})
    assert bad.json()["ErrorInformation"]["code"] == 2000588


async def test_empty_result_envelope(api: httpx.AsyncClient) -> None:
    # recorded: customers/search_miss.yml
    body = (await api.get("/3/customers", params={"name": "nothing"})).json()
    assert body == {
        "MetaInformation": {"@TotalResources": 0, "@TotalPages": 0, "@CurrentPage": 1},
        "Customers": [],
    }


async def test_limit_is_capped_at_500(api: httpx.AsyncClient) -> None:
    await _customers(api, "A")
    body = (await api.get("/3/customers", params={"limit": 501})).json()
    assert body["MetaInformation"]["@TotalPages"] == 1


async def test_sorting_numbers_as_numbers_and_by_name(api: httpx.AsyncClient) -> None:
    await _customers(api, *(f"K{i}" for i in range(1, 11)))
    numbers = (await api.get("/3/customers", params={"sortorder": "descending"})).json()
    assert [c["CustomerNumber"] for c in numbers["Customers"]][:3] == ["10", "9", "8"]
    by_name = (await api.get("/3/customers", params={"sortby": "name"})).json()
    assert [c["Name"] for c in by_name["Customers"]][:3] == ["K1", "K10", "K2"]
    bad = await api.get("/3/customers", params={"sortby": "colour"})
    assert bad.json()["ErrorInformation"]["code"] == 2000588


async def test_filters_and_an_invalid_filter(api: httpx.AsyncClient) -> None:
    await _customers(api, "Aktiv")
    await api.post("/3/customers", json={"Customer": {"Name": "Vilande", "Active": False}})
    inactive = (await api.get("/3/customers", params={"filter": "inactive"})).json()
    assert [c["Name"] for c in inactive["Customers"]] == ["Vilande"]
    invalid = await api.get("/3/invoices", params={"filter": "doesntexist"})
    # recorded: invoices/filter_invalid.yml
    assert invalid.status_code == 400
    assert invalid.json() == {
        "ErrorInformation": {
            "error": 1,
            "message": "Ett ogiltigt filter har använts.",
            "code": 2000587,
        }
    }


async def test_search_is_a_case_insensitive_substring_and_anded(api: httpx.AsyncClient) -> None:
    for name, city in (("Test customer", "New York"), ("Other", "New York"), ("TESTAB", "Lund")):
        await api.post("/3/customers", json={"Customer": {"Name": name, "City": city}})
    hits = (await api.get("/3/customers", params={"name": "test"})).json()
    assert {c["Name"] for c in hits["Customers"]} == {"Test customer", "TESTAB"}
    both = (await api.get("/3/customers", params={"name": "test", "city": "york"})).json()
    assert [c["Name"] for c in both["Customers"]] == ["Test customer"]
    # reference §8.7: customernumber=1 also matches 10, 11, …
    await _customers(api, *(f"K{i}" for i in range(7)))
    numbers = (await api.get("/3/customers", params={"customernumber": "1"})).json()
    assert [c["CustomerNumber"] for c in numbers["Customers"]] == ["1", "10"]
    unknown = await api.get("/3/customers", params={"colour": "blue"})
    assert unknown.json()["ErrorInformation"]["code"] == 2000588


async def test_lastmodified_is_stockholm_time_minute_precision_inclusive(
    fortnox_app: FastAPI, fortnox_clock: EmulatorClock
) -> None:
    fortnox_clock.set(datetime(2099, 3, 10, 12, 30, 40, tzinfo=STOCKHOLM))
    # a token issued at the new time, valid for the hour the test spans
    api = client_for(fortnox_app, access_token(fortnox_app))
    await _customers(api, "Gammal")
    fortnox_clock.advance(120)  # 12:32:40 Stockholm
    await _customers(api, "Ny")

    async def names(since: str) -> list[str]:
        body = (await api.get("/3/customers", params={"lastmodified": since})).json()
        return [c["Name"] for c in body["Customers"]]

    assert await names("2099-03-10 12:30") == ["Gammal", "Ny"]  # same minute counts
    assert await names("2099-03-10 12:31") == ["Ny"]
    assert await names("2099-03-10 12:32") == ["Ny"]
    assert await names("2099-03-10 12:33") == []
    assert await names("2099-03-10") == ["Gammal", "Ny"]
    fortnox_clock.advance(1800)
    await api.put("/3/customers/1", json={"Customer": {"City": "Lund"}})
    assert await names("2099-03-10 13:00") == ["Gammal"]
    bad = await api.get("/3/customers", params={"lastmodified": "yesterday"})
    assert bad.json()["ErrorInformation"]["code"] == 2000588
    currencies = await api.get("/3/currencies", params={"lastmodified": "2099-03-10"})
    assert currencies.json()["ErrorInformation"]["code"] == 2000588
