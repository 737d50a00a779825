"""The Fortnox emulator refuses hostile values the way the reference says Fortnox does.

Only refusals the reference documents are made (§5.1, §5.6, §6.2, §8.5); where it is silent
(what a valid organisation number is, VAT numbers, upper limits of amounts) values are taken as
given, and huge amounts read back as they were written.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.harness import Systems
from webcrm_fortnox.errors import ValidationError
from webcrm_fortnox.fortnox.models import Order, OrderRow


async def _send(env: Systems, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = dict(await env.fortnox.transport.auth.headers())
    return await env.fortnox_api.request(method, path, json=body, headers=headers)


def _refusal(response: httpx.Response) -> tuple[int, str]:
    assert response.status_code == 400, response.text
    error = response.json()["ErrorInformation"]
    return error["code"], error["message"]


@pytest.mark.parametrize(
    ("values", "code", "message"),
    [
        ({"TermsOfPayment": "999"}, 2000429, "Kan inte hitta betalningsvillkoret."),
        ({"TermsOfPayment": "30 dagar"}, 2000429, "Kan inte hitta betalningsvillkoret."),
        ({"Currency": "ZZZ"}, 2001392, "Ingen eller felaktig typ av data. (Currency)"),
        ({"Currency": "kr"}, 2001392, "Ingen eller felaktig typ av data. (Currency)"),
    ],
)
async def test_a_customer_with_unknown_terms_or_currency_is_refused(
    env: Systems, values: dict[str, Any], code: int, message: str
) -> None:
    response = await _send(env, "POST", "/3/customers", {"Customer": {"Name": "A", **values}})

    assert _refusal(response) == (code, message)
    assert await env.customers() == []


async def test_registered_codes_are_taken_in_any_case_and_stored_as_registered(
    env: Systems,
) -> None:
    number = await env.customer(Name="A", TermsOfPayment="ag", Currency="eur")
    assert {k: (await env.customer_data(number))[k] for k in ("TermsOfPayment", "Currency")} == {
        "TermsOfPayment": "AG",
        "Currency": "EUR",
    }
    # The company's own currency is always valid, listed in the register or not.
    sek = await env.customer(Name="B", Currency="SEK", TermsOfPayment="30")
    assert (await env.customer_data(sek))["Currency"] == "SEK"


async def test_a_refused_update_of_terms_changes_nothing(env: Systems) -> None:
    number = await env.customer(Name="A", TermsOfPayment="10")

    response = await _send(
        env,
        "PUT",
        f"/3/customers/{number}",
        {"Customer": {"Name": "B", "TermsOfPayment": "NINETY"}},
    )

    assert _refusal(response)[0] == 2000429
    kept = await env.customer_data(number)
    assert (kept["Name"], kept["TermsOfPayment"]) == ("A", "10")


async def test_what_the_reference_does_not_refuse_is_taken(env: Systems) -> None:
    """No rule is on record for VAT numbers nor for what makes an organisation number valid."""
    number = await env.customer(
        Name="A", VATNumber="XX999999999999", OrganisationNumber="556000-0000"
    )
    customer = await env.customer_data(number)
    assert (customer["VATNumber"], customer["OrganisationNumber"]) == (
        "XX999999999999",
        "556000-0000",
    )


@pytest.mark.parametrize(
    ("row", "code", "message"),
    [
        (
            {"Description": "Moms", "OrderedQuantity": 1, "VAT": 17},
            2001392,
            "Kunde inte hämta/hitta moms.",
        ),
        (
            {"OrderedQuantity": 2, "Price": 5},
            2003977,
            "Rad med antal saknar benämning och artikelnummer.",
        ),
    ],
)
async def test_odd_rows_are_refused(
    env: Systems, row: dict[str, Any], code: int, message: str
) -> None:
    customer = await env.customer(Name="A")

    response = await _send(
        env, "POST", "/3/orders", {"Order": {"CustomerNumber": customer, "OrderRows": [row]}}
    )

    assert _refusal(response) == (code, message)
    assert [o async for o in env.fortnox.orders.iterate()] == []


async def test_an_order_with_unknown_terms_is_refused(env: Systems) -> None:
    customer = await env.customer(Name="A")
    response = await _send(
        env,
        "POST",
        "/3/orders",
        {"Order": {"CustomerNumber": customer, "TermsOfPayment": "999", "OrderRows": []}},
    )
    assert _refusal(response)[0] == 2000429


async def test_rows_the_reference_allows_are_kept_as_written(env: Systems) -> None:
    customer = await env.customer(Name="A")
    rows = [
        {"Description": "Text only", "OrderedQuantity": 0},  # a comment row
        {"Description": "Return", "OrderedQuantity": -3, "Price": 10, "VAT": 12},
        {"Description": "Huge", "OrderedQuantity": 1e15, "Price": 1e15, "VAT": 6},
        {"Description": "Enormous", "OrderedQuantity": "1e30", "Price": 1e30, "VAT": 0},
        {"Description": "Cents", "OrderedQuantity": 1.005, "Price": 10.555, "VAT": 25},
    ]

    response = await _send(
        env, "POST", "/3/orders", {"Order": {"CustomerNumber": customer, "OrderRows": rows}}
    )

    assert response.status_code == 201, response.text
    written = response.json()["Order"]["OrderRows"]
    assert [(r["OrderedQuantity"], r["Price"]) for r in written] == [
        ("0", 0),
        ("-3", 10),
        ("1000000000000000", 1000000000000000),
        ("1" + "0" * 30, 10**30),
        ("1.01", 10.56),  # two decimals, half up (recorded: invoices/row_*_round_up.yml)
    ]


async def test_the_client_explains_a_missing_vat_rate_in_plain_english(env: Systems) -> None:
    customer = await env.customer(Name="A")
    order = Order(
        customer_number=customer,
        order_rows=[OrderRow(description="Moms", ordered_quantity=1, vat=17)],
    )

    with pytest.raises(ValidationError) as refused:
        await env.fortnox.orders.create(order)

    assert refused.value.vendor_message == "Kunde inte hämta/hitta moms."
    assert "VAT rate is not one the company has" in refused.value.explanation
