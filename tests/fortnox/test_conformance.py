"""Conformance: every recorded Fortnox interaction, replayed against a fresh emulator.

The fixtures (``fixtures/recorded_interactions.json``, made by ``fixtures/derive_recordings.py``)
hold each recorded request with its status and the shape of its JSON answer. For each one, a new
emulator gets the company the recording was made in (the customers, articles, documents and
registers the request refers to), the request is replayed, and the test asserts the same status,
the same ``Location`` word and, in the JSON body, the same keys with the same value types,
recursively.

Nothing is skipped: the housework recordings are replayed too, since their rules are emulated.

The recordings span January 2023 to December 2024 and the API changed in between; the emulator
follows the newest recordings. ``DRIFT`` lists the differences, applied to the expected shape of
older recordings:

* ``Invoice.ContractReference`` was a number in 2023 and is a string ("0") in December 2024;
* invoice rows gained ``VATCode`` (null) by December 2024;
* articles gained ``CommodityCode`` (string) and a new article's ``StockWarning`` became null.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.fortnox.fixtures.emulator import access_token, basic_auth, bearer, client_for

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.fortnox.emulator import create_app
from webcrm_fortnox.fortnox.emulator.articles import ARTICLES
from webcrm_fortnox.fortnox.emulator.customers import CUSTOMERS
from webcrm_fortnox.fortnox.emulator.documents import INVOICES, ORDERS, bookkeep, cancel
from webcrm_fortnox.fortnox.emulator.registers import TERMS_OF_PAYMENT, UNITS
from webcrm_fortnox.fortnox.emulator.state import Tenant

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "recorded_interactions.json").read_text()
)
DRIFT_DATE = "2024-12-01"

# (envelope path, key, shape in the newest recordings)
DRIFT: tuple[tuple[tuple[str, ...], str, Any], ...] = (
    (("Invoice",), "ContractReference", ["string"]),
    (("Invoice", "InvoiceRows", "[]"), "VATCode", ["null"]),
    (("Article",), "CommodityCode", ["string"]),
    (("Article",), "StockWarning", ["null"]),
)


# The recordings contradict themselves here: article 1 answers "Unit": null on its own
# (articles/find_id_1.yml) and "Unit": "" in the list (articles/all.yml, search_by_name.yml).
# Either is accepted in lists.
INCONSISTENT: tuple[tuple[tuple[str, ...], str, Any], ...] = (
    (("Articles", "[]"), "Unit", ["null", "string"]),
)


def _replaced(shape: Any, table: tuple[tuple[tuple[str, ...], str, Any], ...]) -> Any:
    for path, key, new in table:
        node = shape
        for step in path:
            if node is None:
                break
            node = node["items"] if step == "[]" else node.get("keys", {}).get(step)
        if node is not None and "keys" in node:
            node["keys"][key] = new
    return shape


def _expected_shape(fixture: dict[str, Any]) -> Any:
    recorded = parsedate_to_datetime(fixture["recorded_at"]).date().isoformat()
    shape = json.loads(json.dumps(fixture["shape"]))
    if shape is None:
        return None
    if recorded < DRIFT_DATE:
        shape = _replaced(shape, DRIFT)
    return _replaced(shape, INCONSISTENT)


def mismatches(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where ``actual`` differs from a recorded shape (keys and JSON types), as readable paths."""
    if isinstance(expected, list):
        kind = _type_of(actual)
        return [] if kind in expected else [f"{where}: {kind}, recorded {'|'.join(expected)}"]
    if "keys" in expected:
        if not isinstance(actual, dict):
            return [f"{where}: {_type_of(actual)}, recorded an object"]
        problems = [f"{where}: missing {k}" for k in expected["keys"] if k not in actual]
        problems += [f"{where}: extra {k}" for k in actual if k not in expected["keys"]]
        for k, sub in expected["keys"].items():
            if k in actual:
                problems += mismatches(sub, actual[k], f"{where}.{k}")
        return problems
    if not isinstance(actual, list):
        return [f"{where}: {_type_of(actual)}, recorded an array"]
    if expected["items"] is None:
        return [] if not actual else [f"{where}: {len(actual)} items, recorded none"]
    if not actual:
        return [f"{where}: no items, recorded some"]
    problems = []
    for i, item in enumerate(actual):
        problems += mismatches(expected["items"], item, f"{where}[{i}]")
    return problems


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _created_keys(fixture: dict[str, Any]) -> set[str]:
    """Registers the request itself creates must not exist beforehand."""
    body = fixture["body"]
    if fixture["method"] != "POST" or not isinstance(body, dict):
        return set()
    return {str(entity.get("Code")) for entity in body.values() if isinstance(entity, dict)}


def recorded_company(tenant: Tenant, skip: set[str]) -> None:
    """The records the recordings refer to, as they were in the recorded company."""
    customers = [
        ("1", {"Name": "Updated name", "City": "New York", "ZipCode": "10001"}),
        ("2", {"Name": "Test customer", "City": "New York"}),
        ("3", {"Name": "Customer with Swedish country code", "CountryCode": "SE"}),
        ("4", {"Name": "Customer with Sales Account", "SalesAccount": "3001"}),
        ("5", {"Name": "A customer"}),
        ("6", {"Name": "A value"}),
        ("7", {"Name": "Test customer", "EmailInvoiceCC": "test@example.com"}),
        ("9", {"Name": "Customer with Sales Account", "SalesAccount": "3001"}),
    ]
    for number, values in customers:
        CUSTOMERS.create(tenant, {"CustomerNumber": number, **values}, announce=False)
    articles = [
        ("1", {"Description": "Test article", "EAN": "5901234123457"}),
        ("2", {"Description": "Updated description"}),
        ("3", {"Description": "Test article", "EAN": "5901234123457"}),
        ("101", {"Description": "Hammer"}),
        ("102", {"Description": "A value", "SalesAccount": 1250}),
        ("103", {"Description": "Test article", "EAN": "5901234123457"}),
    ]
    for number, values in articles:
        ARTICLES.create(tenant, {"ArticleNumber": number, **values}, announce=False)
    # made in Fortnox's own UI, with an empty stock place no API call can set
    ARTICLES.store(tenant, {**ARTICLES.find(tenant, "101"), "StockPlace": ""}, None)
    for code, description in (
        ("blarg7", "Updated description"),
        ("woooh6", "Happy clouds"),
        ("blarg9", "A value"),
    ):
        if code not in skip:
            UNITS.create(tenant, {"Code": code, "Description": description}, announce=False)
    for code, description in (("19DAYS", "Testing"), ("21DAYS", "A value")):
        if code not in skip:
            TERMS_OF_PAYMENT.create(
                tenant, {"Code": code, "Description": description}, announce=False
            )
    invoices = {
        "1": {"CustomerNumber": "1", "Comments": "Updated comments"},
        "18": {"CustomerNumber": "1", "Comments": "A value"},
        "29": {"CustomerNumber": "2"},
        "30": {"CustomerNumber": "1", "Comments": "A comment to be reset"},
        "31": {
            "CustomerNumber": "1",
            "YourReference": "Gandalf the Grey",
            "OurReference": "Radagast the Brown",
            "Country": "Sverige",
        },
        "32": {"CustomerNumber": "1"},
        "33": {"CustomerNumber": "5"},
        "34": {"CustomerNumber": "1", "YourReference": "Gandalf the Grey"},
    }
    for number, values in invoices.items():
        INVOICES.create(tenant, {"DocumentNumber": number, **values}, announce=False)
    for number in ("32", "33"):
        bookkeep(tenant, INVOICES.find(tenant, number))
    orders = {
        "1": {
            "CustomerNumber": "1",
            "Comments": "Updated comments",
            "YourReference": "Bodo Proudfoot",
            "OurReference": "Belladonna Took",
        },
        "2": {"CustomerNumber": "5"},
        "3": {"CustomerNumber": "2", "DeliveryDate": "2023-01-27"},
        "4": {"CustomerNumber": "2", "DeliveryDate": "2023-01-27"},
        "5": {"CustomerNumber": "1", "OurReference": "Belladonna Took"},
        "6": {"CustomerNumber": "1", "Comments": "A value"},
    }
    for number, values in orders.items():
        ORDERS.create(tenant, {"DocumentNumber": number, **values}, announce=False)
    for number in ("3", "4"):
        cancel(tenant, ORDERS, ORDERS.find(tenant, number))


async def _authorize(http: httpx.AsyncClient, app: FastAPI, fixture: dict[str, Any]) -> Any:
    """Headers and body with the recording's masked credentials replaced by fitting ones."""
    case = fixture["auth"]
    body = fixture["body"]
    if case == "bearer":
        return bearer(access_token(app)), body
    if case == "expired-access-token":
        token = access_token(app)
        await http.post("/_emulator/tokens/expire")
        return bearer(token), body
    if case == "bad-client":
        return {"Authorization": basic_auth("emulator", "not-the-secret")}, body
    if case == "used-refresh-token":
        return {"Authorization": basic_auth()}, {**body, "refresh_token": "used-long-ago"}
    assert case == "valid-refresh-token"
    redirect = "https://app.example/callback"
    auth = await http.get(
        "/oauth-v1/auth",
        params={
            "client_id": "emulator",
            "redirect_uri": redirect,
            "state": "s",
            "scope": "article invoice settings customer order project",
        },
    )
    code = httpx.URL(auth.headers["location"]).params["code"]
    tokens = await http.post(
        "/oauth-v1/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
        headers={"Authorization": basic_auth()},
    )
    refresh = tokens.json()["refresh_token"]
    return {"Authorization": basic_auth()}, {**body, "refresh_token": refresh}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
async def test_recorded_interaction(fixture: dict[str, Any]) -> None:
    app = create_app(seed="empty", rate_limit=False, clock=EmulatorClock())
    tenant = app.state.fortnox.tenant(1)
    recorded_company(tenant, _created_keys(fixture))
    async with client_for(app) as http:
        headers, body = await _authorize(http, app, fixture)
        request: dict[str, Any] = {"params": fixture["query"], "headers": headers}
        if fixture["form"]:
            request["data"] = body
        elif body is not None:
            request["json"] = body
        response = await http.request(fixture["method"], fixture["path"], **request)

    assert response.status_code == fixture["status"], response.text
    assert response.headers.get("location") == fixture["location"]
    expected = _expected_shape(fixture)
    if expected is not None:
        assert mismatches(expected, response.json()) == []


def test_the_shape_comparison_notices_differences() -> None:
    expected = {"keys": {"A": ["string"], "B": {"items": {"keys": {"C": ["number", "null"]}}}}}
    assert mismatches(expected, {"A": "x", "B": [{"C": 1}, {"C": None}]}) == []
    assert mismatches(expected, {"A": 1, "B": [{"C": 1}]}) == ["$.A: number, recorded string"]
    assert mismatches(expected, {"A": "x", "B": []}) == ["$.B: no items, recorded some"]
    assert mismatches(expected, {"A": "x", "B": [{"C": "1", "D": 2}]}) == [
        "$.B[0]: extra D",
        "$.B[0].C: string, recorded number|null",
    ]
