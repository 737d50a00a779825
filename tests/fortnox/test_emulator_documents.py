"""Orders and invoices: rows, rounding, totals, RowIds, actions and the accounting rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.fortnox.fixtures.emulator import emulator_of


@pytest.fixture
async def shop(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """A customer "1" and articles "1" (price 100 in list A) and "2"."""
    await api.post("/3/customers", json={"Customer": {"Name": "Kund AB", "City": "Lund"}})
    await api.post("/3/articles", json={"Article": {"Description": "Hammare", "VAT": 25}})
    await api.post("/3/articles", json={"Article": {"Description": "Spik", "VAT": 25}})
    await api.post("/3/prices", json={"Price": {"ArticleNumber": "1", "Price": 100}})
    return api


async def _invoice(api: httpx.AsyncClient, **values: Any) -> dict[str, Any]:
    response = await api.post("/3/invoices", json={"Invoice": {"CustomerNumber": "1", **values}})
    assert response.status_code == 201, response.text
    invoice: dict[str, Any] = response.json()["Invoice"]
    return invoice


async def test_new_document_copies_the_customer_and_fills_rows_from_articles(
    shop: httpx.AsyncClient,
) -> None:
    invoice = await _invoice(shop, InvoiceRows=[{"ArticleNumber": "1", "DeliveredQuantity": 2}])
    assert invoice["CustomerName"] == "Kund AB"
    assert invoice["City"] == "Lund"
    assert invoice["TermsOfPayment"] == "30"
    row = invoice["InvoiceRows"][0]
    assert row["Description"] == "Hammare"
    assert row["Price"] == 100
    assert row["DeliveredQuantity"] == "2"  # recorded: a string
    assert invoice["OCR"] == "133"  # recorded: invoices/find_id_1.yml, invoice 1 has OCR 133
    assert invoice["DueDate"] > invoice["InvoiceDate"]


async def test_totals_are_computed_and_client_totals_ignored(shop: httpx.AsyncClient) -> None:
    invoice = await _invoice(
        shop,
        Total=1,
        Freight=40,
        InvoiceRows=[
            {"ArticleNumber": "1", "DeliveredQuantity": 3, "Discount": 10},
            {"ArticleNumber": "2", "DeliveredQuantity": 1, "Price": 19.99, "VAT": 12},
        ],
    )
    rows = invoice["InvoiceRows"]
    assert [r["Total"] for r in rows] == [270, 19.99]
    assert invoice["Net"] == 289.99
    assert invoice["Gross"] == 329.99
    assert invoice["TotalVAT"] == round(270 * 0.25 + 19.99 * 0.12 + 10, 2)
    assert invoice["Total"] == round(329.99 + invoice["TotalVAT"], 2)
    assert invoice["Balance"] == invoice["Total"]


async def test_vat_included_prices_give_vat_exclusive_amounts(shop: httpx.AsyncClient) -> None:
    invoice = await _invoice(
        shop,
        VATIncluded=True,
        InvoiceRows=[{"ArticleNumber": "2", "DeliveredQuantity": 1, "Price": 125}],
    )
    row = invoice["InvoiceRows"][0]
    assert (row["Total"], row["TotalExcludingVAT"], row["PriceExcludingVAT"]) == (125, 100, 100)
    assert invoice["Total"] == 125


async def test_prices_and_quantities_are_rounded_half_up(shop: httpx.AsyncClient) -> None:
    invoice = await _invoice(
        shop, InvoiceRows=[{"ArticleNumber": "2", "Price": 1.125, "DeliveredQuantity": 1.005}]
    )
    row = invoice["InvoiceRows"][0]
    # recorded: invoices/row_price_limit_round_up.yml and row_delivered_quantity_*
    assert row["Price"] == 1.13
    assert row["DeliveredQuantity"] == "1.01"


async def test_row_updates_follow_the_row_id_rules(shop: httpx.AsyncClient) -> None:
    order = (
        await shop.post(
            "/3/orders",
            json={"Order": {"CustomerNumber": "1", "OrderRows": [
                {"ArticleNumber": "1", "OrderedQuantity": 1},
                {"ArticleNumber": "2", "OrderedQuantity": 2},
                {"ArticleNumber": "2", "OrderedQuantity": 3},
            ]}},
        )
    ).json()["Order"]  # fmt: skip
    first, second, third = (r["RowId"] for r in order["OrderRows"])
    # with RowIds: named rows are updated, unnamed rows are new, rows not sent are deleted
    updated = (
        await shop.put(
            "/3/orders/1",
            json={"Order": {"OrderRows": [
                {"RowId": first},
                {"RowId": third, "OrderedQuantity": 30},
                {"ArticleNumber": "1", "OrderedQuantity": 4},
            ]}},
        )
    ).json()["Order"]  # fmt: skip
    rows = updated["OrderRows"]
    assert [(r["ArticleNumber"], r["OrderedQuantity"]) for r in rows] == [
        ("1", "1"), ("2", "30"), ("1", "4"),
    ]  # fmt: skip
    new_ids = {r["RowId"] for r in rows}
    assert not new_ids & {first, second, third}  # every update renumbers every row
    # without RowIds: position by position, and rows not sent are gone
    positional = (
        await shop.put("/3/orders/1", json={"Order": {"OrderRows": [{"OrderedQuantity": 9}]}})
    ).json()["Order"]
    assert [(r["ArticleNumber"], r["OrderedQuantity"]) for r in positional["OrderRows"]] == [
        ("1", "9")
    ]
    unknown = await shop.put(
        "/3/orders/1", json={"Order": {"OrderRows": [{"RowId": 999999, "OrderedQuantity": 1}]}}
    )
    assert unknown.status_code == 400


async def test_createinvoice_links_order_and_invoice(shop: httpx.AsyncClient) -> None:
    await shop.post(
        "/3/orders",
        json={
            "Order": {
                "CustomerNumber": "1",
                "YourReference": "Anna",
                "OrderRows": [{"ArticleNumber": "1", "OrderedQuantity": 2}],
            }
        },
    )
    response = await shop.put("/3/orders/1/createinvoice")
    assert response.status_code == 200
    invoice = response.json()["Invoice"]
    assert invoice["OrderReference"] == "1"
    assert invoice["YourReference"] == "Anna"
    assert invoice["InvoiceRows"][0]["DeliveredQuantity"] == "2"
    assert invoice["Total"] == 250
    order = (await shop.get("/3/orders/1")).json()["Order"]
    assert order["InvoiceReference"] == invoice["DocumentNumber"]
    again = await shop.put("/3/orders/1/createinvoice")
    assert again.status_code == 400
    invoiced = (await shop.get("/3/orders", params={"filter": "invoicecreated"})).json()
    assert [o["DocumentNumber"] for o in invoiced["Orders"]] == ["1"]


async def test_bookkeep_locks_the_invoice(shop: httpx.AsyncClient) -> None:
    await _invoice(shop, InvoiceRows=[{"ArticleNumber": "1", "DeliveredQuantity": 1}])
    booked = (await shop.put("/3/invoices/1/bookkeep")).json()["Invoice"]
    assert booked["Booked"] is True
    assert (booked["VoucherSeries"], booked["VoucherNumber"]) == ("B", 1)
    for call in (
        shop.put("/3/invoices/1", json={"Invoice": {"Comments": "ändrad"}}),
        shop.put("/3/invoices/1/cancel"),
    ):
        response = await call
        assert response.status_code == 400
        error = response.json()["ErrorInformation"]
        assert set(error) == {"error", "message", "code"}
        assert error["code"] == 2003125
    assert (await shop.get("/3/invoices/1")).json()["Invoice"]["Comments"] == ""
    unbooked = (await shop.get("/3/invoices", params={"filter": "unbooked"})).json()
    assert unbooked["Invoices"] == []


async def test_booked_invoice_code_is_configurable_per_tenant(
    fortnox_app: FastAPI, fortnox_http: httpx.AsyncClient
) -> None:
    from tests.fortnox.fixtures.emulator import access_token, bearer

    added = await fortnox_http.post("/_emulator/tenants", json={"booked_invoice_code": 2999999})
    tenant_id = added.json()["tenant_id"]
    headers = bearer(access_token(fortnox_app, tenant_id))
    await fortnox_http.post("/3/customers", json={"Customer": {"Name": "K"}}, headers=headers)
    await fortnox_http.post(
        "/3/invoices", json={"Invoice": {"CustomerNumber": "1"}}, headers=headers
    )
    await fortnox_http.put("/3/invoices/1/bookkeep", headers=headers)
    refused = await fortnox_http.put(
        "/3/invoices/1", json={"Invoice": {"Comments": "x"}}, headers=headers
    )
    assert refused.json()["ErrorInformation"]["code"] == 2999999


async def test_cancel_credit_and_externalprint(shop: httpx.AsyncClient) -> None:
    await _invoice(shop, InvoiceRows=[{"ArticleNumber": "1", "DeliveredQuantity": 1}])
    await _invoice(shop, InvoiceRows=[{"ArticleNumber": "1", "DeliveredQuantity": 2}])
    cancelled = (await shop.put("/3/invoices/1/cancel")).json()["Invoice"]
    assert cancelled["Cancelled"] is True
    sent = (await shop.put("/3/invoices/2/externalprint")).json()["Invoice"]
    assert sent["Sent"] is True
    await shop.put("/3/invoices/2/bookkeep")
    original = (await shop.put("/3/invoices/2/credit")).json()["Invoice"]
    credit_number = original["CreditInvoiceReference"]
    assert credit_number == "3"
    credit = (await shop.get(f"/3/invoices/{credit_number}")).json()["Invoice"]
    assert credit["Credit"] == "true"  # recorded: a string
    assert credit["CreditInvoiceReference"] == "2"
    assert credit["Total"] == -250
    cancelled_list = (await shop.get("/3/invoices", params={"filter": "cancelled"})).json()
    assert [i["DocumentNumber"] for i in cancelled_list["Invoices"]] == ["1"]
    order = await shop.post("/3/orders", json={"Order": {"CustomerNumber": "1"}})
    assert order.status_code == 201
    assert (await shop.put("/3/orders/1/externalprint")).json()["Order"]["Sent"] is True
    assert (await shop.put("/3/orders/1/cancel")).json()["Order"]["Cancelled"] is True


async def test_missing_customer_or_article_is_refused_with_the_recorded_codes(
    shop: httpx.AsyncClient, fortnox_app: FastAPI
) -> None:
    before = len(emulator_of(fortnox_app).tenant(1).table("invoices"))  # type: ignore[union-attr]
    no_customer = await shop.post("/3/invoices", json={"Invoice": {"CustomerNumber": "404"}})
    assert no_customer.status_code == 400
    assert no_customer.json()["ErrorInformation"]["code"] == 2000204
    no_article = await shop.post(
        "/3/orders",
        json={"Order": {"CustomerNumber": "1", "OrderRows": [{"ArticleNumber": "404"}]}},
    )
    assert no_article.json()["ErrorInformation"]["code"] == 2001302
    assert len(emulator_of(fortnox_app).tenant(1).table("invoices")) == before  # type: ignore[union-attr]
    # a refused document does not use up a number
    assert (await _invoice(shop))["DocumentNumber"] == "1"


async def test_housework_rules(shop: httpx.AsyncClient) -> None:
    def order(reduction: str, work: str, flag: bool = True) -> dict[str, Any]:
        row = {"ArticleNumber": "1", "HouseWork": flag, "HouseWorkType": work, "OrderedQuantity": 1}
        return {"Order": {"CustomerNumber": "1", "TaxReductionType": reduction, "OrderRows": [row]}}

    cases = [
        (order("rut", "CLEANING"), 201, None),
        (order("rut", "COOKING"), 400, 2003157),  # recorded: housework_type_cooking.yml
        (order("rut", "CONSTRUCTION"), 400, 2004021),
        (order("rot", "OTHERCOSTS"), 400, 2002980),
        (order("rot", "OTHERCOSTS", flag=False), 201, None),
    ]
    for body, status, code in cases:
        response = await shop.post("/3/orders", json=body)
        assert response.status_code == status, body
        if code:
            assert response.json()["ErrorInformation"]["code"] == code
