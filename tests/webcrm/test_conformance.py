"""Conformance: every route the sync uses answers with the fields and types of webCRM's spec.

The expected shapes come from ``fixtures/swagger_definitions.json``, derived from webCRM's own
OpenAPI document by ``fixtures/make_swagger_fixture.py``: for each route its response type, for
each DTO every field with its declared type. A response conforms when every declared field is
present with that type (extra fields are allowed: the real API adds fields without notice).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from webcrm_fortnox.webcrm.emulator import DEFAULT_API_TOKEN

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "swagger_definitions.json").read_text(encoding="utf-8")
)
DEFINITIONS: dict[str, dict[str, str]] = FIXTURE["definitions"]
ROUTES: dict[str, str] = FIXTURE["routes"]

# recorded (reference §2.1 example): a successful login carries "Error": null
NULLABLE = {("TokenResponseDto", "Error"), ("TokenResponseDto", "ErrorDescription")}

# what the emulator answers where the specification documents no body or an undefined one
DECIDED = {
    "POST /Organisations": "OrganisationDto",  # reference Q1: an object with OrganisationId
    "GET /Queries": "array:OrganisationDto",  # rows map 1:1 onto the DTO of the table queried
}


def problems(value: Any, declared: str, where: str, owner: str = "", field: str = "") -> list[str]:
    """Every way ``value`` differs from the declared type (empty when it conforms)."""
    if value is None and (owner, field) in NULLABLE:
        return []
    if declared.startswith("array:"):
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {value!r}"]
        item_type = declared.removeprefix("array:")
        return [
            p for i, item in enumerate(value) for p in problems(item, item_type, f"{where}[{i}]")
        ]
    if declared.startswith("enum:"):
        allowed = declared.removeprefix("enum:").split("|")
        return [] if value in allowed else [f"{where}: {value!r} is not one of {allowed}"]
    if declared in DEFINITIONS:
        if not isinstance(value, dict):
            return [f"{where}: expected a {declared} object, got {value!r}"]
        found = []
        for name, field_type in DEFINITIONS[declared].items():
            if name not in value:
                found.append(f"{where}.{name}: missing")
            else:
                found += problems(value[name], field_type, f"{where}.{name}", declared, name)
        return found
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "date-time": _is_datetime,
        "none": lambda v: v is None,
    }
    return [] if checks[declared](value) else [f"{where}: {value!r} is not a {declared}"]


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


async def exercise(api: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> dict[str, Any]:
    """Call every route of the fixture once, on real records; route key → parsed body."""
    seen: dict[str, Any] = {}

    async def call(key: str, url: str, **kwargs: Any) -> Any:
        method = key.split(" ", 1)[0]
        response = await api.request(method, url, **kwargs)
        assert response.status_code == 200, (key, response.status_code, response.text)
        seen[key] = response.json() if response.content else None
        return seen[key]

    login = await anonymous.post("/Auth/ApiLogin", data={"authCode": DEFAULT_API_TOKEN})
    seen["POST /Auth/ApiLogin"] = login.json()
    refresh = await anonymous.post(
        "/Auth/ApiRefresh", headers={"refreshToken": login.json()["RefreshToken"]}
    )
    seen["POST /Auth/ApiRefresh"] = refresh.json()

    created = await call("POST /Organisations", "/Organisations", json={"OrganisationName": "Ab"})
    org = created["OrganisationId"]
    await call("GET /Organisations", "/Organisations", params={"Page": 1, "Size": 5})
    await call("GET /Organisations/{id}", f"/Organisations/{org}")
    await call(
        "PUT /Organisations/{id}", f"/Organisations/{org}", json={"OrganisationCity": "Umeå"}
    )
    await call("PATCH /Organisations", "/Organisations", json=[{"OrganisationName": "Cd"}])
    await call(
        "GET /Organisations/FindByUpdateDates/{startDate}/{endDate}",
        "/Organisations/FindByUpdateDates/2000-01-01T00:00:00/2100-01-01T00:00:00",
        params={"Page": 1, "Size": 5},
    )
    person = await call(
        "POST /Persons", "/Persons", json={"PersonOrganisationId": org, "PersonLastName": "Berg"}
    )
    await call("GET /Persons", "/Persons", params={"Page": 1, "Size": 5})
    await call("GET /Persons/{id}", f"/Persons/{person}")
    await call("GET /Organisations/{id}/Persons", f"/Organisations/{org}/Persons")
    delivery = await call("POST /Deliveries", "/Deliveries", json={"DeliveryOrganisationId": org})
    await call("GET /Deliveries", "/Deliveries", params={"Page": 1, "Size": 5})
    await call("GET /Deliveries/{id}", f"/Deliveries/{delivery}")
    await call(
        "PUT /Deliveries/{id}", f"/Deliveries/{delivery}", json={"DeliveryStatus": "Planned"}
    )
    await call(
        "GET /Deliveries/ByOrganisation/{organisationId}", f"/Deliveries/ByOrganisation/{org}"
    )
    item = await call(
        "POST /QuotationLines/LinkedData",
        "/QuotationLines/LinkedData",
        json={f"QuotationLineLinkedDataItemData{n}": f"x{n}" for n in range(1, 10)},
    )
    await call("GET /QuotationLines/LinkedData", "/QuotationLines/LinkedData")
    await call("GET /QuotationLines/LinkedData/{id}", f"/QuotationLines/LinkedData/{item}")
    await call(
        "PUT /QuotationLines/LinkedData/{id}",
        f"/QuotationLines/LinkedData/{item}",
        json={"QuotationLineLinkedDataItemPrice": 10},
    )
    line = await call(
        "POST /QuotationLines",
        "/QuotationLines",
        json={"QuotationLineOpportunityId": delivery, "QuotationLineLinkedDataId": item},
    )
    await call("GET /QuotationLines/{id}", f"/QuotationLines/{line}")
    await call(
        "PUT /QuotationLines/{id}", f"/QuotationLines/{line}", json={"QuotationLinePrice": 3}
    )
    await call("GET /Deliveries/{id}/QuotationLines", f"/Deliveries/{delivery}/QuotationLines")
    await call("DELETE /QuotationLines/{id}", f"/QuotationLines/{line}")
    await call("GET /QuotationLines/LinkedSetup", "/QuotationLines/LinkedSetup")
    await call("GET /FieldsMetadata/{entityTypes}", "/FieldsMetadata/All")
    await call(
        "GET /Queries",
        "/Queries",
        params={"script": "SELECT * FROM Organisation WHERE OrganisationUpdatedAt >= '2000-01-01'"},
    )
    hook = {"TargetUrl": "https://example.org/hook", "Filter": ["All"], "IsEnabled": False}
    hook_id = await call("POST /Organisations/Hooks", "/Organisations/Hooks", json=hook)
    await call("GET /Organisations/Hooks", "/Organisations/Hooks")
    await call("GET /Organisations/Hooks/{id}", f"/Organisations/Hooks/{hook_id}")
    for route in ("Persons", "Deliveries", "QuotationLines"):
        await api.post(f"/{route}/Hooks", json=hook)
        await call(f"GET /{route}/Hooks", f"/{route}/Hooks")
    return seen


async def test_every_route_answers_with_the_specified_fields_and_types(
    webcrm_demo_app: FastAPI, webcrm_demo_api: httpx.AsyncClient
) -> None:
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=webcrm_demo_app), base_url="https://api.webcrm.com"
    )
    async with anonymous:
        seen = await exercise(webcrm_demo_api, anonymous)

    assert set(seen) == set(ROUTES), "the test must call every route of the fixture"
    found: dict[str, list[str]] = {}
    for route, declared in ROUTES.items():
        expected = DECIDED.get(route, declared)
        body = seen[route]
        if expected.startswith("array:"):
            assert body, f"{route} returned no rows to check"
        found[route] = problems(body, expected, route)
    assert {route: p for route, p in found.items() if p} == {}


def test_the_checker_notices_missing_fields_and_wrong_types() -> None:
    good = {name: "" for name in DEFINITIONS["FieldMetadataDropdownListDto"]}
    assert problems(good, "FieldMetadataDropdownListDto", "x") == []
    assert problems({"Text": "a"}, "FieldMetadataDropdownListDto", "x") == ["x.Value: missing"]
    assert problems({"Text": 1, "Value": "v"}, "FieldMetadataDropdownListDto", "x") == [
        "x.Text: 1 is not a string"
    ]
    assert problems(True, "integer", "n") == ["n: True is not a integer"]
    assert problems("yesterday", "date-time", "d") == ["d: 'yesterday' is not a date-time"]
    assert problems("Lost", "enum:New|Planned", "e") == [
        "e: 'Lost' is not one of ['New', 'Planned']"
    ]


def test_the_fixture_covers_the_dtos_the_sync_reads() -> None:
    for name in ("OrganisationDto", "PersonDto", "DeliveryDto", "QuotationLineDto"):
        assert len(DEFINITIONS[name]) > 20
    assert DEFINITIONS["DeliveryDto"]["DeliveryStatus"] == (
        "enum:New|Planned|OnGoing|Completed|GeneralDelivery"
    )
