"""What the client sends and how it reads answers, against a scripted API."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from webcrm_fortnox.errors import BookedInvoiceError, TransientError, ValidationError
from webcrm_fortnox.fortnox.client import FortnoxClient, lastmodified_value
from webcrm_fortnox.fortnox.limits import fortnox_limiters, limiter_key
from webcrm_fortnox.fortnox.models import Customer, Invoice, InvoiceRow, Order, OrderRow
from webcrm_fortnox.fortnox.urls import FortnoxUrls

Handler = Callable[[httpx.Request], httpx.Response]


class StaticAuth:
    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": "Bearer t"}

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        return None


class Api:
    """Answers requests by (method, path) from a script and records them."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler | list[httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: httpx.Response | Handler) -> None:
        if len(answers) == 1 and callable(answers[0]):
            self.routes[(method, path)] = answers[0]
        else:
            self.routes[(method, path)] = list(answers)  # type: ignore[arg-type]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes[(request.method, request.url.raw_path.decode().split("?")[0])]
        if callable(route):
            return route(request)
        return route.pop(0) if len(route) > 1 else route[0]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
async def client(api: Api):
    async def no_sleep(_: float) -> None:
        return None

    http = httpx.AsyncClient(transport=httpx.MockTransport(api))
    fortnox = FortnoxClient(
        StaticAuth(), urls=FortnoxUrls.single_host("http://f.test"), http=http, sleep=no_sleep
    )
    yield fortnox
    await http.aclose()


def listing(plural: str, items: list[dict[str, Any]], page: int, pages: int) -> httpx.Response:
    meta = {"@TotalResources": 0, "@TotalPages": pages, "@CurrentPage": page}
    return httpx.Response(200, json={"MetaInformation": meta, plural: items})


def not_booked_400(message: str = "Ett klarmarkerat dokument kan inte ändras") -> httpx.Response:
    body = {"ErrorInformation": {"error": 1, "message": message, "code": 2003125}}
    return httpx.Response(400, json=body)


async def test_requests_carry_bearer_and_accept_json(client: FortnoxClient, api: Api) -> None:
    api.on("GET", "/3/customers/1", httpx.Response(200, json={"Customer": {"CustomerNumber": 1}}))
    customer = await client.customers.get("1")
    assert customer.customer_number == "1"
    request = api.requests[0]
    assert request.headers["Authorization"] == "Bearer t"
    assert request.headers["Accept"] == "application/json"


async def test_keys_are_url_encoded(client: FortnoxClient, api: Api) -> None:
    # recorded: units/all.yml addresses unit "förp" as /3/units/f%C3%B6rp
    api.on("GET", "/3/units/f%C3%B6rp", httpx.Response(200, json={"Unit": {"Code": "förp"}}))
    api.on("GET", "/3/customers/A%2F1", httpx.Response(200, json={"Customer": {}}))
    assert (await client.units.get("förp")).code == "förp"
    await client.customers.get("A/1")


async def test_create_sends_only_set_fields_and_is_sent_once(
    client: FortnoxClient, api: Api
) -> None:
    api.on("POST", "/3/customers", httpx.Response(503, text="down"))
    with pytest.raises(TransientError):
        await client.customers.create(Customer(name="Acme AB"))
    assert len(api.requests) == 1
    assert api.body() == {"Customer": {"Name": "Acme AB"}}


async def test_iterate_reads_every_page_with_limit_500(client: FortnoxClient, api: Api) -> None:
    pages = [
        listing("Customers", [{"CustomerNumber": str(n)} for n in range(1, 4)], 1, 2),
        listing("Customers", [{"CustomerNumber": "4"}], 2, 2),
    ]
    api.on("GET", "/3/customers", *pages)
    numbers = [c.customer_number async for c in client.customers.iterate(filter="active")]
    assert numbers == ["1", "2", "3", "4"]
    params = [dict(r.url.params) for r in api.requests]
    assert params == [
        {"filter": "active", "limit": "500", "page": "1"},
        {"filter": "active", "limit": "500", "page": "2"},
    ]


async def test_find_filters_substring_hits_to_exact_matches(
    client: FortnoxClient, api: Api
) -> None:
    hits = [
        {"CustomerNumber": "1", "OrganisationNumber": "556036-0793"},
        {"CustomerNumber": "2", "OrganisationNumber": "556036-07931"},
        {"CustomerNumber": "3", "OrganisationNumber": "X556036-0793"},
    ]
    api.on("GET", "/3/customers", listing("Customers", hits, 1, 1))
    found = await client.customers.find(organisation_number="556036-0793")
    assert [c.customer_number for c in found] == ["1"]
    assert api.requests[0].url.params["organisationnumber"] == "556036-0793"


async def test_find_rejects_fields_it_cannot_compare(client: FortnoxClient) -> None:
    with pytest.raises(ValueError):
        await client.customers.find(external_reference="x")
    with pytest.raises(ValueError):
        await client.customers.find(email="")


async def test_find_by_external_reference(client: FortnoxClient, api: Api) -> None:
    hits = [
        {"DocumentNumber": "7", "ExternalInvoiceReference1": "crm-12"},
        {"DocumentNumber": "8", "ExternalInvoiceReference1": "crm-123"},
    ]
    api.on("GET", "/3/invoices", listing("Invoices", hits, 1, 1))
    found = await client.invoices.find_by_external_reference("crm-12")
    assert [i.document_number for i in found] == ["7"]
    assert api.requests[0].url.params["externalinvoicereference1"] == "crm-12"


def test_lastmodified_is_stockholm_local_time_rounded_down_to_the_minute() -> None:
    when = datetime(2024, 1, 15, 11, 32, 59, tzinfo=UTC)  # 12:32:59 in Stockholm (CET)
    assert lastmodified_value(when, timedelta(0)) == "2024-01-15 12:32"
    assert lastmodified_value(when, timedelta(minutes=3)) == "2024-01-15 12:29"
    summer = datetime(2024, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert lastmodified_value(summer, timedelta(0)) == "2024-07-01 18:00"  # CEST


def test_lastmodified_in_the_repeated_autumn_hour_reads_an_hour_earlier() -> None:
    # 2024-10-27 00:30 UTC is 02:30 CEST; 01:30 UTC is 02:30 CET again. Fortnox may read
    # "02:30" as the later instant, which would skip changes made in between.
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert lastmodified_value(first, timedelta(0)) == "2024-10-27 01:30"
    second = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert lastmodified_value(second, timedelta(0)) == "2024-10-27 02:30"  # either reading is safe


def test_lastmodified_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        lastmodified_value(datetime(2024, 1, 1, 12, 0))


async def test_changed_since_passes_the_overlapped_cutoff(client: FortnoxClient, api: Api) -> None:
    api.on("GET", "/3/articles", listing("Articles", [{"ArticleNumber": "1"}], 1, 1))
    when = datetime(2024, 1, 15, 11, 32, tzinfo=UTC)
    items = [a async for a in client.changed_since("articles", when)]
    assert [a.article_number for a in items] == ["1"]
    assert api.requests[0].url.params["lastmodified"] == "2024-01-15 12:29"


async def test_changed_since_refuses_currencies(client: FortnoxClient) -> None:
    with pytest.raises(ValueError):
        client.changed_since("currencies", datetime.now(UTC))
    with pytest.raises(ValueError):
        client.changed_since("nothing", datetime.now(UTC))


async def test_400_on_a_booked_invoice_is_booked_invoice_error(
    client: FortnoxClient, api: Api
) -> None:
    api.on("PUT", "/3/invoices/5", not_booked_400())
    api.on("GET", "/3/invoices/5", httpx.Response(200, json={"Invoice": {"Booked": True}}))
    with pytest.raises(BookedInvoiceError) as caught:
        await client.invoices.update("5", Invoice(comments="x"))
    assert caught.value.code == 2003125
    assert caught.value.vendor_message == "Ett klarmarkerat dokument kan inte ändras"


async def test_400_on_an_unbooked_invoice_stays_a_validation_error(
    client: FortnoxClient, api: Api
) -> None:
    api.on("PUT", "/3/invoices/5/cancel", not_booked_400("Något annat"))
    api.on("GET", "/3/invoices/5", httpx.Response(200, json={"Invoice": {"Booked": False}}))
    with pytest.raises(ValidationError) as caught:
        await client.invoices.cancel("5")
    assert type(caught.value) is ValidationError


async def test_configured_booked_code_needs_no_second_read(api: Api) -> None:
    api.on("PUT", "/3/invoices/5/bookkeep", not_booked_400())
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        client = FortnoxClient(StaticAuth(), http=http, booked_invoice_codes=[2003125])
        with pytest.raises(BookedInvoiceError):
            await client.invoices.bookkeep("5")
    assert [r.method for r in api.requests] == ["PUT"]


async def test_actions_that_create_records_are_sent_once(client: FortnoxClient, api: Api) -> None:
    def dropped(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)

    api.on("PUT", "/3/orders/3/createinvoice", dropped)
    api.on("PUT", "/3/invoices/4/credit", dropped)
    with pytest.raises(TransientError):
        await client.orders.create_invoice("3")
    with pytest.raises(TransientError):
        await client.invoices.credit("4")
    assert len(api.requests) == 2


async def test_row_updates_with_row_ids_are_sent_once_others_retried(
    client: FortnoxClient, api: Api
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"Order": {}})] * 2)
    api.on("PUT", "/3/orders/3", lambda _: next(answers))
    await client.orders.update("3", Order(order_rows=[OrderRow(article_number="1")]))
    assert len(api.requests) == 2
    with pytest.raises(TransientError):
        await client.orders.update("3", Order(order_rows=[OrderRow(row_id=9, price=1)]))
    assert len(api.requests) == 3
    answers = iter([httpx.Response(503), httpx.Response(200, json={"Invoice": {}})])
    api.on("PUT", "/3/invoices/3", lambda _: next(answers))
    with pytest.raises(TransientError):
        await client.invoices.update("3", Invoice(invoice_rows=[InvoiceRow(row_id=1)]))


async def test_documents_cannot_be_deleted(client: FortnoxClient) -> None:
    with pytest.raises(NotImplementedError):
        await client.invoices.delete("1")


async def test_delete_answers_none(client: FortnoxClient, api: Api) -> None:
    api.on("DELETE", "/3/customers/2", httpx.Response(204))
    assert await client.customers.delete("2") is None


async def test_price_set_updates_or_creates(client: FortnoxClient, api: Api) -> None:
    missing = {"ErrorInformation": {"Error": 1, "Message": "Kan inte hitta priset.", "Code": 0}}
    api.on("PUT", "/3/prices/A/101/0", httpx.Response(404, json=missing))
    created = {"Price": {"ArticleNumber": "101", "PriceList": "A", "FromQuantity": 0, "Price": 5}}
    api.on("POST", "/3/prices", httpx.Response(201, json=created))
    price = await client.prices.set("101", 5)
    assert price.price == 5
    assert api.body(0) == {"Price": {"Price": 5}}
    assert api.body(1) == {
        "Price": {"ArticleNumber": "101", "PriceList": "A", "FromQuantity": 0, "Price": 5}
    }


async def test_prices_of_an_article(client: FortnoxClient, api: Api) -> None:
    prices = {"Prices": [{"ArticleNumber": "101", "FromQuantity": 0, "Price": "5.5"},
                         {"ArticleNumber": "101", "FromQuantity": 10, "Price": 5}]}  # fmt: skip
    api.on("GET", "/3/prices/sublist/B/101", httpx.Response(200, json=prices))
    api.on("GET", "/3/prices/A/101", httpx.Response(200, json={"Price": {"Price": 7}}))
    steps = await client.prices.for_article("101", price_list="B")
    assert [(p.from_quantity, p.price) for p in steps] == [(0, 5.5), (10, 5)]
    assert (await client.prices.get("101")).price == 7


def test_one_limiter_per_client_id_and_tenant() -> None:
    registry = fortnox_limiters()
    first = registry.get(limiter_key("cid", 1))
    assert registry.get(limiter_key("cid", "1")) is first
    assert registry.get(limiter_key("cid", 2)) is not first
    assert first.window.limit == 24 and first.window.period == 5.0
