"""The client against the Fortnox emulator in-process: the real proof that both agree.

Time is the emulator's controllable clock. The client's limiter and retries "sleep" by moving
that clock forward, so a saturating caller meets the emulator's real 25-per-5-s window without
the test waiting for it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.fortnox.fixtures.emulator import BASE_URL, CLIENT_ID, CLIENT_SECRET

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.errors import (
    BookedInvoiceError,
    NotFound,
    ReconnectNeeded,
    TransientError,
    ValidationError,
)
from webcrm_fortnox.fortnox.auth import (
    AuthorizationCodeAuth,
    OAuthClient,
    ServiceAccountAuth,
    TokenSet,
)
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.fortnox.limits import limiter_key
from webcrm_fortnox.fortnox.models import (
    Article,
    Customer,
    Invoice,
    InvoiceRow,
    Order,
    OrderRow,
    TermsOfPayment,
    Unit,
)
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.transport.limiters import LimiterRegistry

TENANT = 1
URLS = FortnoxUrls.single_host(BASE_URL)


class Env:
    """One emulator, its clock, and clients wired to both."""

    def __init__(self, clock: EmulatorClock, http: httpx.AsyncClient) -> None:
        self.clock = clock
        self.http = http
        self.limiters = LimiterRegistry(24, 5.0, monotonic=clock.monotonic, sleep=self.sleep)

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    def oauth(self, secret: str = CLIENT_SECRET) -> OAuthClient:
        return OAuthClient(
            CLIENT_ID, secret, urls=URLS, http=self.http, clock=self.clock.timestamp,
            sleep=self.sleep,
        )  # fmt: skip

    def client(self, auth: Any = None, **kw: Any) -> FortnoxClient:
        return FortnoxClient(
            auth or ServiceAccountAuth(self.oauth(), TENANT),
            urls=URLS,
            http=self.http,
            limiter=kw.pop("limiter", None) or self.limiters.get(limiter_key(CLIENT_ID, TENANT)),
            sleep=self.sleep,
            **kw,
        )

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def count(self, *, method: str | None = None, status: int | None = None) -> int:
        """API requests the emulator answered, filtered by method and status."""
        rows = (await self.control("GET", "stats"))["requests"]
        return sum(
            row["count"]
            for row in rows
            if (method is None or row["method"] == method)
            and (status is None or row["status"] == status)
            and row["route"].startswith("/3/")
        )


@pytest.fixture
def env(fortnox_clock: EmulatorClock, fortnox_http: httpx.AsyncClient) -> Env:
    return Env(fortnox_clock, fortnox_http)


@pytest.fixture
def fortnox(env: Env) -> FortnoxClient:
    return env.client()


# --- resources -------------------------------------------------------------------------------


async def test_customer_lifecycle(fortnox: FortnoxClient) -> None:
    created = await fortnox.customers.create(
        Customer(name="Acme AB", email="info@acme.se", city="Lund", country_code="SE")
    )
    number = created.customer_number
    assert number is not None
    assert created.country == "Sverige"  # derived by Fortnox from the code
    assert (await fortnox.customers.get(number)).email == "info@acme.se"

    updated = await fortnox.customers.update(number, Customer(email="", city=None, phone1="046"))
    assert updated.phone1 == "046" and updated.name == "Acme AB"
    assert not updated.email and not updated.city  # "" and None were sent as API_BLANK

    await fortnox.customers.delete(number)
    with pytest.raises(NotFound) as caught:
        await fortnox.customers.get(number)
    assert caught.value.code == 2000433
    assert caught.value.explanation == "The customer does not exist in Fortnox."


async def test_rejected_content_carries_code_message_and_explanation(
    fortnox: FortnoxClient,
) -> None:
    with pytest.raises(ValidationError) as caught:
        await fortnox.invoices.create(Invoice(customer_number="404"))
    error = caught.value
    assert error.status == 400 and isinstance(error.code, int)
    assert error.vendor_message and error.explanation
    with pytest.raises(ValidationError) as bad_filter:
        await fortnox.invoices.page(1, filter="doesntexist")
    assert bad_filter.value.code == 2000587


async def test_articles_and_prices_in_the_default_list(fortnox: FortnoxClient) -> None:
    article = await fortnox.articles.create(
        Article(description="Hammer", purchase_price="12.5", unit="st")
    )
    number = article.article_number
    assert number is not None and article.purchase_price == 12.5
    price = await fortnox.prices.set(number, "99.90")
    assert (price.price_list, price.price) == ("A", Decimal("99.9"))
    assert (await fortnox.prices.get(number)).price == Decimal("99.9")
    assert [p.price for p in await fortnox.prices.for_article(number)] == [Decimal("99.9")]
    await fortnox.prices.set(number, 120)
    assert (await fortnox.articles.get(number)).sales_price == 120


async def test_order_to_invoice_to_booked(fortnox: FortnoxClient) -> None:
    customer = await fortnox.customers.create(Customer(name="Kund AB"))
    article = await fortnox.articles.create(Article(description="Skruv"))
    assert customer.customer_number and article.article_number
    order = await fortnox.orders.create(
        Order(
            customer_number=customer.customer_number,
            external_invoice_reference1="crm-delivery-7",
            order_rows=[
                OrderRow(
                    article_number=article.article_number,
                    ordered_quantity=3,
                    delivered_quantity=3,  # Fortnox totals what is delivered
                    price="10.005",
                )
            ],
        )
    )
    assert order.document_number and order.order_rows
    assert order.order_rows[0].price == Decimal("10.01")  # rounded half-up by Fortnox
    assert order.total is not None and order.total > 0
    assert order.invoice_reference is None  # "0" on the wire

    invoice = await fortnox.orders.create_invoice(order.document_number)
    assert invoice.document_number and invoice.order_reference == order.document_number
    assert (await fortnox.orders.get(order.document_number)).invoice_reference == (
        invoice.document_number
    )
    found = await fortnox.orders.find_by_external_reference("crm-delivery-7")
    assert [o.document_number for o in found] == [order.document_number]

    booked = await fortnox.invoices.bookkeep(invoice.document_number)
    assert booked.booked is True
    with pytest.raises(BookedInvoiceError):
        await fortnox.invoices.update(invoice.document_number, Invoice(comments="too late"))
    with pytest.raises(BookedInvoiceError):
        await fortnox.invoices.cancel(invoice.document_number)
    credited = await fortnox.invoices.credit(invoice.document_number)
    assert credited.credit_invoice_reference is not None
    credit = await fortnox.invoices.get(credited.credit_invoice_reference)
    assert credit.credit is True


async def test_unbooked_invoice_rows_update_cancel_and_mark_sent(fortnox: FortnoxClient) -> None:
    customer = await fortnox.customers.create(Customer(name="Rad AB"))
    assert customer.customer_number
    invoice = await fortnox.invoices.create(
        Invoice(
            customer_number=customer.customer_number,
            invoice_rows=[InvoiceRow(description="Konsult", delivered_quantity=2, price=500)],
        )
    )
    number = invoice.document_number
    assert number and invoice.total is not None and invoice.total > 0
    changed = await fortnox.invoices.update(
        number,
        Invoice(invoice_rows=[InvoiceRow(description="Konsult", delivered_quantity=3, price=500)]),
    )
    assert changed.invoice_rows and changed.invoice_rows[0].delivered_quantity == 3
    assert (await fortnox.invoices.external_print(number)).sent is True
    assert (await fortnox.invoices.cancel(number)).cancelled is True
    order = await fortnox.orders.create(Order(customer_number=customer.customer_number))
    assert order.document_number
    assert (await fortnox.orders.cancel(order.document_number)).cancelled is True


async def test_small_registers_and_company(fortnox: FortnoxClient) -> None:
    terms = await fortnox.terms_of_payments.create(TermsOfPayment(code="21D", description="21"))
    assert terms.code == "21D"
    changed = await fortnox.terms_of_payments.update("21D", TermsOfPayment(description="x"))
    assert changed.description == "x"
    unit = await fortnox.units.create(Unit(code="låda", description="Låda"))
    assert (await fortnox.units.get("låda")).description == unit.description == "Låda"
    currencies = [c.code async for c in fortnox.currencies.iterate()]
    assert "EUR" in currencies
    assert (await fortnox.currencies.get(currencies[0])).code == currencies[0]
    assert [p.code async for p in fortnox.price_lists.iterate()] == ["A"]
    company = await fortnox.company_information()
    assert company.database_number == TENANT


async def test_find_customers_exactly_although_search_is_substring(
    fortnox: FortnoxClient,
) -> None:
    for name, org in [("A", "556036-0793"), ("B", "556036-07931"), ("C", "9556036-0793")]:
        await fortnox.customers.create(Customer(name=name, organisation_number=org))
    candidates = await fortnox.customers.page(1, organisationnumber="556036-0793")
    assert len(candidates.items) == 3  # Fortnox matches substrings
    found = await fortnox.customers.find(organisation_number="556036-0793")
    assert [c.name for c in found] == ["A"]


async def test_page_iterator_reads_more_than_500(env: Env, fortnox: FortnoxClient) -> None:
    await env.control("POST", "seed", {"seed": "empty", "customers": 1001})
    await env.control("DELETE", "stats")
    numbers = [c.customer_number async for c in fortnox.customers.iterate()]
    assert len(numbers) == 1001 and len(set(numbers)) == 1001
    assert await env.count(method="GET") == 3  # 500 + 500 + 1


async def test_changed_since_reads_back_an_overlap_window(env: Env, fortnox: FortnoxClient) -> None:
    await fortnox.customers.create(Customer(name="Old"))
    env.clock.advance(3600)
    await fortnox.customers.create(Customer(name="Recent"))
    env.clock.advance(120)
    cursor = env.clock.now()  # when the last sync started reading
    env.clock.advance(30)
    await fortnox.customers.create(Customer(name="Newest"))

    overlapped = [c.name async for c in fortnox.changed_since("customers", cursor)]
    assert overlapped == ["Recent", "Newest"]  # Recent predates the cursor: read again
    exact = fortnox.changed_since("customers", cursor, overlap=timedelta(0))
    assert [c.name async for c in exact] == ["Newest"]


# --- rate limit, retries, faults -------------------------------------------------------------


async def test_saturating_callers_get_no_429(env: Env) -> None:
    clients = [env.client(), env.client()]  # two client objects, one company: one limiter

    async def worker(client: FortnoxClient) -> None:
        for _ in range(15):
            await client.company_information()

    await asyncio.gather(*(worker(c) for c in clients for _ in range(3)))
    assert await env.count(status=200) == 90
    assert await env.count(status=429) == 0
    assert sum(c.stats["rate_limited"] for c in clients) == 0


async def test_an_overeager_limiter_meets_429s_and_still_completes(env: Env) -> None:
    greedy = LimiterRegistry(60, 5.0, monotonic=env.clock.monotonic, sleep=env.sleep)
    client = env.client(limiter=greedy.get("x"))
    await asyncio.gather(*(client.company_information() for _ in range(40)))
    assert await env.count(status=429) > 0
    assert await env.count(status=200) == 40
    assert client.stats["rate_limited"] > 0


async def test_5xx_is_retried(env: Env, fortnox: FortnoxClient) -> None:
    await fortnox.company_information()  # token first, so the faults hit the API call
    await env.control("PUT", "faults", {"force_5xx": 2})
    assert (await fortnox.company_information()).database_number == TENANT
    assert fortnox.stats["retries"] == 2
    await env.control("PUT", "faults", {"force_5xx": 1})
    with pytest.raises(TransientError):
        await fortnox.customers.create(Customer(name="Not retried"))  # a 503 may have acted


async def test_dropped_connections_are_retried_for_reads(env: Env, fortnox: FortnoxClient) -> None:
    await fortnox.company_information()
    await env.control("PUT", "faults", {"drop_rate": 0.5, "seed": 3})
    for _ in range(6):
        assert (await fortnox.company_information()).database_number == TENANT
    assert fortnox.stats["retries"] > 0


async def test_create_is_not_resent_after_its_answer_was_lost(
    env: Env, fortnox: FortnoxClient
) -> None:
    await fortnox.company_information()
    await env.control("PUT", "faults", {"drop_after_rate": 1.0})
    with pytest.raises(TransientError) as caught:
        await fortnox.customers.create(Customer(name="Exactly once"))
    assert not caught.value.not_sent
    await env.control("PUT", "faults", {})
    assert await env.count(method="POST") == 1
    created = await fortnox.customers.find(name="Exactly once")
    assert len(created) == 1  # it was carried out: look it up, never send it again


# --- authentication --------------------------------------------------------------------------


async def test_service_account_renews_before_expiry(env: Env, fortnox: FortnoxClient) -> None:
    await fortnox.company_information()
    env.clock.advance(3600 - 30)  # inside the last minute
    await fortnox.company_information()
    assert await env.count(status=401) == 0


async def test_revoked_tokens_are_replaced_after_one_401(env: Env, fortnox: FortnoxClient) -> None:
    await fortnox.company_information()
    await env.control("POST", "tokens/expire")
    assert (await fortnox.company_information()).database_number == TENANT
    assert await env.count(status=401) == 1


async def test_wrong_secret_needs_a_reconnect(env: Env) -> None:
    client = env.client(ServiceAccountAuth(env.oauth("wrong"), TENANT))
    with pytest.raises(ReconnectNeeded):
        await client.company_information()


async def connect(env: Env) -> TokenSet:
    """The authorization-code flow as ``connect`` will run it."""
    oauth = env.oauth()
    url = oauth.authorize_url(
        scopes=["customer", "companyinformation"], state="st8", redirect_uri="http://cb.test/"
    )
    answer = await env.http.get(url.replace(URLS.auth, ""))
    assert answer.status_code in (302, 303, 307)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["st8"]
    return await oauth.exchange_code(query["code"][0], redirect_uri="http://cb.test/")


async def test_refresh_rotation_is_persisted_and_serialised(env: Env) -> None:
    first = await connect(env)
    assert first.refresh_token
    stored: list[str | None] = [first.refresh_token]

    async def persist(token: TokenSet) -> None:
        await asyncio.sleep(0)
        stored.append(token.refresh_token)

    auth = AuthorizationCodeAuth(env.oauth(), refresh_token=first.refresh_token,
                                 on_rotate=persist, token=first)  # fmt: skip
    client = env.client(auth)
    await client.company_information()
    await env.control("POST", "tokens/expire")
    # Many tasks meet the 401 at once; only one may spend the refresh token.
    await asyncio.gather(*(client.company_information() for _ in range(10)))
    assert len(stored) == 2 and stored[1] != stored[0]
    env.clock.advance(3600)
    await client.company_information()
    assert len(stored) == 3 and auth.refresh_token == stored[-1]
    # The spent token is dead at Fortnox: using it again would force a reconnect.
    with pytest.raises(ReconnectNeeded):
        await env.oauth().refresh(str(stored[0]))
