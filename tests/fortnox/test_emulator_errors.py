"""Refused requests: each with its Fortnox code and Swedish message, and nothing changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.fortnox.fixtures.emulator import access_token, bearer


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["ErrorInformation"]
    assert set(error) == {"error", "message", "code"}  # lowercase on 400s
    return error


async def test_malformed_json(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/3/customers",
        content=b'{"Customer": {"Name": ',
        headers={"Content-Type": "application/json"},
    )
    assert _error(response) == {
        "error": 1,
        "message": "Error deserializing JSON: JSON_ERROR_SYNTAX",
        "code": 2002115,
    }


async def test_wrong_content_type(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/3/customers", content=b'{"Customer": {"Name": "A"}}', headers={"Content-Type": "text/xml"}
    )
    assert _error(response)["code"] == 1000031


async def test_wrong_accept(api: httpx.AsyncClient) -> None:
    response = await api.get("/3/customers", headers={"Accept": "application/xml"})
    assert _error(response)["code"] == 1000030


@pytest.mark.parametrize(
    ("customer", "code", "message"),
    [
        ({"Name": "A", "Colour": "blå"}, 2001399, "Felaktigt fältnamn"),
        (
            {"Name": "A", "ZipCode": "12345678901"},
            2001392,
            "Ingen eller felaktig typ av data. (ZipCode)",
        ),
        ({"Name": "A", "Active": "kanske"}, 2000134, "Värdet måste vara en boolean (kanske)"),
        ({"Name": "A", "InvoiceDiscount": "tio"}, 2000108, "Värdet måste vara numeriskt (tio)"),
        ({"Name": "A <b>"}, 2000359, "Värdet innehåller ej tillåtna tecken. (A <b>)"),
        ({"Name": "A", "CustomerNumber": "K#1"}, 2000106, "Värdet måste vara alfanumeriskt (K#1)"),
        ({"Name": "A", "Type": "ALIEN"}, 2001392, "Ingen eller felaktig typ av data. (Type)"),
        ({"Name": "A", "CountryCode": "XX"}, 2001392, "Ingen eller felaktig typ av data."),
    ],
)
async def test_invalid_values_have_their_codes_and_change_nothing(
    api: httpx.AsyncClient, customer: dict[str, Any], code: int, message: str
) -> None:
    response = await api.post("/3/customers", json={"Customer": customer})
    assert _error(response) == {"error": 1, "message": message, "code": code}
    assert (await api.get("/3/customers")).json()["MetaInformation"]["@TotalResources"] == 0


async def test_a_refused_update_changes_nothing(api: httpx.AsyncClient) -> None:
    await api.post("/3/customers", json={"Customer": {"Name": "Före", "City": "Lund"}})
    refused = await api.put(
        "/3/customers/1", json={"Customer": {"Name": "Efter", "ZipCode": "x" * 11}}
    )
    assert refused.status_code == 400
    customer = (await api.get("/3/customers/1")).json()["Customer"]
    assert (customer["Name"], customer["City"]) == ("Före", "Lund")


async def test_missing_envelope_or_extra_top_level_keys(api: httpx.AsyncClient) -> None:
    assert _error(await api.post("/3/customers", json={"Name": "A"}))["code"] == 2001392
    both = await api.post("/3/customers", json={"Customer": {"Name": "A"}, "Other": {}})
    assert _error(both)["code"] == 2001399


async def test_not_found_uses_pascal_case(api: httpx.AsyncClient) -> None:
    for path, code in (
        ("/3/articles/123456789", 2000428),
        ("/3/invoices/123456789", 2000434),
        ("/3/orders/123456789", 2000439),
        ("/3/termsofpayments/123456789", 2000429),
    ):
        response = await api.get(path)
        assert response.status_code == 404
        assert set(response.json()["ErrorInformation"]) == {"Error", "Message", "Code"}
        assert response.json()["ErrorInformation"]["Code"] == code


async def test_missing_licence_and_scope(
    fortnox_app: FastAPI, fortnox_http: httpx.AsyncClient
) -> None:
    unlicensed = (
        await fortnox_http.post("/_emulator/tenants", json={"api_licence": False})
    ).json()["tenant_id"]
    response = await fortnox_http.get(
        "/3/customers", headers=bearer(access_token(fortnox_app, unlicensed))
    )
    assert response.status_code == 403
    assert response.json()["ErrorInformation"]["code"] == 2001103
    narrow = (await fortnox_http.post("/_emulator/tenants", json={"scopes": ["customer"]})).json()[
        "tenant_id"
    ]
    headers = bearer(access_token(fortnox_app, narrow))
    assert (await fortnox_http.get("/3/customers", headers=headers)).status_code == 200
    refused = await fortnox_http.get("/3/invoices", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["ErrorInformation"] == {
        "error": 1,
        "message": "Har inte behörighet för scope",
        "code": 2000663,
    }
    token_scope = bearer(access_token(fortnox_app, scopes=["article"]))
    assert (await fortnox_http.get("/3/customers", headers=token_scope)).status_code == 403
