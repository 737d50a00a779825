"""The async Fortnox REST client.

One :class:`FortnoxClient` acts for one company with one credential, on top of
:class:`~webcrm_fortnox.transport.ApiTransport` (rate limit, retries, one re-authentication after
a 401, typed errors). Resources hang off it as collections::

    client = FortnoxClient(auth, limiter=registry.get(limiter_key(client_id, tenant_id)))
    customer = await client.customers.create(Customer(name="Acme AB"))
    async for item in client.invoices.iterate(filter="unbooked"):
        ...
    invoice = await client.orders.create_invoice(order.document_number)

Only URLs differ between the real API and the emulator (:class:`FortnoxUrls`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from webcrm_fortnox.errors import (
    ApiError,
    BookedInvoiceError,
    NotFound,
    ValidationError,
)
from webcrm_fortnox.fortnox.classify import SYSTEM, FortnoxClassifier
from webcrm_fortnox.fortnox.limits import DEFAULT_LIMIT, DEFAULT_PERIOD
from webcrm_fortnox.fortnox.models import (
    Article,
    ArticleListItem,
    CompanyInformation,
    Currency,
    Customer,
    CustomerListItem,
    FortnoxModel,
    Invoice,
    InvoiceListItem,
    Order,
    OrderListItem,
    Page,
    Price,
    PriceList,
    TermsOfPayment,
    Unit,
    fortnox_name,
)
from webcrm_fortnox.fortnox.urls import FortnoxUrls
from webcrm_fortnox.transport.http import ApiTransport, AuthProvider
from webcrm_fortnox.transport.ratelimit import RateLimiter
from webcrm_fortnox.transport.retry import RetryPolicy

#: The largest page Fortnox serves (reference §4); fewer pages, fewer requests.
MAX_PAGE_SIZE = 500
#: How far before the caller's cursor ``changed_since`` starts reading (reference §4: minute
#: precision, undocumented inclusiveness and time zone).
DEFAULT_OVERLAP = timedelta(minutes=3)
STOCKHOLM = ZoneInfo("Europe/Stockholm")

RecordT = TypeVar("RecordT", bound=FortnoxModel)
ItemT = TypeVar("ItemT", bound=FortnoxModel)
T = TypeVar("T")


def lastmodified_value(when: datetime, overlap: timedelta = DEFAULT_OVERLAP) -> str:
    """The ``lastmodified`` parameter for changes since ``when`` less ``overlap``.

    Fortnox reads it as Swedish local time with minute precision (reference §4, assumed), so the
    cutoff is converted to Europe/Stockholm and rounded *down* to the minute. In the hour that
    repeats when summer time ends, the local time is ambiguous; the cutoff then moves back an
    hour more so that neither reading of it can skip a change.

    Raises:
        ValueError: ``when`` has no time zone (it would be guessed wrong by an hour or two).
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("changed_since needs a timezone-aware datetime")
    local = (when - overlap).astimezone(STOCKHOLM)
    naive = local.replace(tzinfo=None)
    first = naive.replace(tzinfo=STOCKHOLM, fold=0).utcoffset()
    second = naive.replace(tzinfo=STOCKHOLM, fold=1).utcoffset()
    if first != second:
        local = (when - overlap - timedelta(hours=1)).astimezone(STOCKHOLM)
    return local.strftime("%Y-%m-%d %H:%M")


class _AcceptJson:
    """Adds ``Accept: application/json`` to the credential's headers (Fortnox also speaks XML)."""

    def __init__(self, auth: AuthProvider) -> None:
        self.auth = auth

    async def headers(self) -> Mapping[str, str]:
        return {**await self.auth.headers(), "Accept": "application/json"}

    async def invalidate(self, rejected: Mapping[str, str]) -> None:
        await self.auth.invalidate(rejected)


class FortnoxClient:
    """Fortnox API v3 for one company.

    Args:
        auth: the credential (:class:`~webcrm_fortnox.fortnox.auth.ServiceAccountAuth` or
            :class:`~webcrm_fortnox.fortnox.auth.AuthorizationCodeAuth`).
        urls: where Fortnox is; ``FortnoxUrls.single_host(url)`` for the emulator.
        limiter: the limiter shared by everyone using this client id and tenant (see
            :func:`~webcrm_fortnox.fortnox.limits.limiter_key`); a private one of 24 requests
            per 5 s when omitted.
        http: the HTTP client to send with (tests pass one over an ASGI transport).
        retry: backoff for 429, 5xx, timeouts and dropped connections.
        booked_invoice_codes: vendor codes that mean "the invoice is booked" (unconfirmed in the
            reference; a 400 on a write to an invoice that reads as booked counts too).
        default_price_list: the price list :attr:`prices` uses unless told otherwise.
        sleep: the sleeper used between retries.
    """

    def __init__(
        self,
        auth: AuthProvider,
        *,
        urls: FortnoxUrls | None = None,
        limiter: RateLimiter | None = None,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        booked_invoice_codes: Collection[int] = (),
        default_price_list: str = "A",
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.urls = urls or FortnoxUrls()
        self.transport = ApiTransport(
            system=SYSTEM,
            base_url=f"{self.urls.api.rstrip('/')}/3",
            auth=_AcceptJson(auth),
            classify=FortnoxClassifier(booked_invoice_codes),
            limiter=limiter or RateLimiter(DEFAULT_LIMIT, DEFAULT_PERIOD),
            retry=retry,
            http=http,
            timeout=timeout,
            sleep=sleep,
        )
        self.customers = Customers(self)
        self.articles = Articles(self)
        self.orders = Orders(self)
        self.invoices = Invoices(self)
        self.terms_of_payments = Register(
            self, "termsofpayments", "TermsOfPayments", TermsOfPayment
        )
        # recorded (reference §4): /3/currencies?lastmodified=… is refused with 2000588.
        self.currencies = Register(
            self, "currencies", "Currencies", Currency, supports_lastmodified=False
        )
        self.units = Register(self, "units", "Units", Unit)
        self.price_lists = Register(self, "pricelists", "PriceLists", PriceList)
        self.prices = Prices(self, default_price_list)

    @property
    def stats(self) -> dict[str, int]:
        """Calls, 429s, retries and errors so far."""
        return self.transport.stats.as_dict()

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> FortnoxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One request to ``/3/{path}``; the decoded JSON body (``None`` for 204)."""
        response = await self.transport.request(
            method, path, params=params, json=json, idempotent=idempotent
        )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def company_information(self) -> CompanyInformation:
        """The company behind the credential; ``database_number`` is its tenant id."""
        body = await self.call("GET", "companyinformation")
        return CompanyInformation.model_validate(body["CompanyInformation"])

    def collection(self, resource: str) -> Listing[Any]:
        """The collection named like its path, e.g. ``"customers"`` or ``"invoices"``."""
        listings: tuple[Listing[Any], ...] = (
            self.customers,
            self.articles,
            self.orders,
            self.invoices,
            self.terms_of_payments,
            self.currencies,
            self.units,
            self.price_lists,
        )
        for listing in listings:
            if listing.path == resource:
                return listing
        raise ValueError(f"unknown Fortnox resource {resource!r}")

    def changed_since(
        self, resource: str, when: datetime, *, overlap: timedelta = DEFAULT_OVERLAP
    ) -> AsyncIterator[Any]:
        """List items of ``resource`` changed since ``when``; see :meth:`Listing.changed_since`."""
        return self.collection(resource).changed_since(when, overlap=overlap)


def _key(value: str) -> str:
    # recorded: units/all.yml — unit "förp" is addressed as /3/units/f%C3%B6rp; "/" must go too.
    return quote(str(value), safe="")


class Listing(Generic[ItemT]):
    """A list endpoint: pages, a page iterator, ``lastmodified`` and exact-match search."""

    def __init__(
        self,
        client: FortnoxClient,
        path: str,
        plural: str,
        item_type: type[ItemT],
        *,
        supports_lastmodified: bool = True,
    ) -> None:
        self.client = client
        self.path = path
        self.plural = plural
        self.item_type = item_type
        self.supports_lastmodified = supports_lastmodified

    async def page(self, number: int = 1, /, **params: str | int) -> Page[ItemT]:
        """One page of the list.

        Args:
            number: 1-based page number.
            params: Fortnox list parameters by their (lowercase) names: ``limit`` (at most and by
                default 500), ``filter``, ``sortby``, ``sortorder``, ``lastmodified``,
                ``offset``, or a field search such as ``name="Acme"`` (a case-insensitive
                *substring* match).
        """
        limit = min(int(params.pop("limit", MAX_PAGE_SIZE)), MAX_PAGE_SIZE)
        query: dict[str, str | int] = {**params, "limit": limit, "page": number}
        body = await self.client.call("GET", self.path, params=query)
        meta = body.get("MetaInformation", {})
        return Page(
            items=[self.item_type.model_validate(item) for item in body.get(self.plural, [])],
            total_resources=int(meta.get("@TotalResources", 0)),
            total_pages=int(meta.get("@TotalPages", 0)),
            current_page=int(meta.get("@CurrentPage", number)),
        )

    async def iterate(self, **params: str | int) -> AsyncIterator[ItemT]:
        """Every item, page by page (500 per request unless ``limit`` says otherwise)."""
        number = 1
        while True:
            page = await self.page(number, **params)
            for item in page.items:
                yield item
            if page.is_last or not page.items:
                return
            number += 1

    def changed_since(
        self, when: datetime, *, overlap: timedelta = DEFAULT_OVERLAP, **params: str | int
    ) -> AsyncIterator[ItemT]:
        """Items changed since ``when``, read from ``overlap`` earlier.

        The overlap makes the read safe against Fortnox's minute precision and clock skew, and
        means records already handled come again: callers de-duplicate them against their base
        snapshots (a record equal to its base is no change). Take the next cursor as the time
        *before* this read started, not after it ended.

        Raises:
            ValueError: the resource does not accept ``lastmodified`` (currencies), or ``when``
                is naive.
        """
        if not self.supports_lastmodified:
            raise ValueError(f"Fortnox does not filter {self.path} by lastmodified")
        cutoff = lastmodified_value(when, overlap)
        return self.iterate(lastmodified=cutoff, **params)

    async def find(self, **exact: str) -> list[ItemT]:
        """Items whose fields equal the given values exactly.

        Fortnox's field search is a case-insensitive substring match (``customernumber=1``
        also finds 10 and 21; reference §8.7), so the candidates it returns are filtered here.
        Fields are named by attribute (``organisation_number="556036-0793"``) and must be in
        the list item; values are compared as given, without normalisation.
        """
        fields = self.item_type.model_fields
        unknown = [name for name in exact if name not in fields]
        if unknown:
            raise ValueError(f"{self.path} list items have no field(s) {unknown}")
        if not exact or any(value == "" for value in exact.values()):
            raise ValueError("find needs non-empty values to search for")
        params = {fortnox_name(name).lower(): value for name, value in exact.items()}
        return [
            item
            async for item in self.iterate(**params)
            if all(getattr(item, name) == value for name, value in exact.items())
        ]


class Resource(Listing[ItemT], Generic[RecordT, ItemT]):
    """A list endpoint whose records can also be read, created, updated and deleted."""

    def __init__(
        self,
        client: FortnoxClient,
        path: str,
        plural: str,
        record_type: type[RecordT],
        item_type: type[ItemT],
        *,
        supports_lastmodified: bool = True,
    ) -> None:
        super().__init__(
            client, path, plural, item_type, supports_lastmodified=supports_lastmodified
        )
        self.record_type = record_type

    def _record(self, body: Any, record_type: type[T] | None = None) -> Any:
        kind: Any = record_type or self.record_type
        return kind.model_validate(body[kind.envelope])

    async def get(self, key: str) -> RecordT:
        """The record with this number or code.

        Raises:
            NotFound: there is none.
        """
        record: RecordT = self._record(await self.client.call("GET", f"{self.path}/{_key(key)}"))
        return record

    async def create(self, record: RecordT) -> RecordT:
        """Create ``record`` (only the fields set on it are sent) and return it as stored.

        Creates are never repeated after an uncertain failure: Fortnox has no idempotency key,
        and a second POST makes a second record (reference §8.8). Look the record up instead.
        """
        body = await self.client.call("POST", self.path, json=record.wrapped(), idempotent=False)
        created: RecordT = self._record(body)
        return created

    async def update(self, key: str, changes: RecordT) -> RecordT:
        """Change the fields set on ``changes`` (a partial update) and return the record."""
        body = await self.client.call(
            "PUT",
            f"{self.path}/{_key(key)}",
            json=changes.wrapped(),
            idempotent=self._update_is_idempotent(changes),
        )
        updated: RecordT = self._record(body)
        return updated

    def _update_is_idempotent(self, changes: RecordT) -> bool:
        return True

    async def delete(self, key: str) -> None:
        """Delete the record (204). Fortnox has no delete for orders and invoices."""
        await self.client.call("DELETE", f"{self.path}/{_key(key)}")


class Register(Resource[RecordT, RecordT]):
    """A small register whose list items are full records (units, terms of payment, …)."""

    def __init__(
        self,
        client: FortnoxClient,
        path: str,
        plural: str,
        record_type: type[RecordT],
        *,
        supports_lastmodified: bool = True,
    ) -> None:
        super().__init__(
            client,
            path,
            plural,
            record_type,
            record_type,
            supports_lastmodified=supports_lastmodified,
        )


class Customers(Resource[Customer, CustomerListItem]):
    """``/3/customers``."""

    def __init__(self, client: FortnoxClient) -> None:
        super().__init__(client, "customers", "Customers", Customer, CustomerListItem)


class Articles(Resource[Article, ArticleListItem]):
    """``/3/articles``. List prices are kept in :attr:`FortnoxClient.prices`."""

    def __init__(self, client: FortnoxClient) -> None:
        super().__init__(client, "articles", "Articles", Article, ArticleListItem)


class Documents(Resource[RecordT, ItemT]):
    """What orders and invoices share: actions, row-aware updates, reference lookups."""

    rows_field = ""

    async def delete(self, key: str) -> None:
        raise NotImplementedError(f"Fortnox cannot delete {self.path}; cancel or credit instead")

    def _update_is_idempotent(self, changes: RecordT) -> bool:
        # RowIds are renewed by every update (reference §5.4): repeating an update that did
        # arrive would address rows that no longer exist, so such updates are sent once.
        rows = getattr(changes, self.rows_field, None) or []
        return not any(getattr(row, "row_id", None) is not None for row in rows)

    async def _action(
        self, key: str, action: str, *, idempotent: bool, result: type[T] | None = None
    ) -> Any:
        body = await self.client.call(
            "PUT", f"{self.path}/{_key(key)}/{action}", idempotent=idempotent
        )
        return self._record(body, result)

    async def find_by_external_reference(self, reference: str, *, slot: int = 1) -> list[ItemT]:
        """Documents whose ``ExternalInvoiceReference1`` (or ``2``) equals ``reference``.

        These fields serve as idempotency keys for documents created from the CRM.
        """
        if slot not in (1, 2):
            raise ValueError("slot must be 1 or 2")
        return await self.find(**{f"external_invoice_reference{slot}": reference})


class Orders(Documents[Order, OrderListItem]):
    """``/3/orders``."""

    rows_field = "order_rows"

    def __init__(self, client: FortnoxClient) -> None:
        super().__init__(client, "orders", "Orders", Order, OrderListItem)

    async def create_invoice(self, key: str) -> Invoice:
        """Invoice the order; returns the new invoice (its ``order_reference`` is the order).

        Sent once: a repeat after a lost answer would invoice the order twice. On an uncertain
        failure, read the order and look at its ``invoice_reference``.
        """
        invoice: Invoice = await self._action(
            key, "createinvoice", idempotent=False, result=Invoice
        )
        return invoice

    async def cancel(self, key: str) -> Order:
        """Cancel the order."""
        order: Order = await self._action(key, "cancel", idempotent=False)
        return order

    async def external_print(self, key: str) -> Order:
        """Mark the order as sent without producing a document."""
        order: Order = await self._action(key, "externalprint", idempotent=True)
        return order


class Invoices(Documents[Invoice, InvoiceListItem]):
    """``/3/invoices``. A booked invoice cannot change: writes to one raise
    :class:`~webcrm_fortnox.errors.BookedInvoiceError`."""

    rows_field = "invoice_rows"

    def __init__(self, client: FortnoxClient) -> None:
        super().__init__(client, "invoices", "Invoices", Invoice, InvoiceListItem)

    async def update(self, key: str, changes: Invoice) -> Invoice:
        return await self._guard_booked(key, super().update(key, changes))

    async def bookkeep(self, key: str) -> Invoice:
        """Book the invoice (``Booked`` becomes true; from then on it cannot change)."""
        return await self._guard_booked(key, self._action(key, "bookkeep", idempotent=False))

    async def cancel(self, key: str) -> Invoice:
        """Cancel an unbooked invoice (a booked one must be credited)."""
        return await self._guard_booked(key, self._action(key, "cancel", idempotent=False))

    async def credit(self, key: str) -> Invoice:
        """Credit the invoice; the credit invoice's number is in ``credit_invoice_reference``.

        Sent once: a repeat after a lost answer would credit it twice.
        """
        invoice: Invoice = await self._action(key, "credit", idempotent=False)
        return invoice

    async def external_print(self, key: str) -> Invoice:
        """Mark the invoice as sent without producing a document."""
        invoice: Invoice = await self._action(key, "externalprint", idempotent=True)
        return invoice

    async def _guard_booked(self, key: str, write: Awaitable[Invoice]) -> Invoice:
        """Run ``write``; a 400 on an invoice that reads as booked becomes BookedInvoiceError.

        The real code for "booked invoice cannot change" is not public (reference §5.5), so
        besides the configured codes the invoice itself is asked.
        """
        try:
            return await write
        except BookedInvoiceError:
            raise
        except ValidationError as exc:
            if exc.status != 400 or not await self._is_booked(key):
                raise
            raise BookedInvoiceError(
                f"Invoice {key} is booked; accounting rules forbid changing it.",
                system=exc.system,
                status=exc.status,
                code=exc.code,
                vendor_message=exc.vendor_message,
                field=exc.field,
                body=exc.body,
            ) from exc

    async def _is_booked(self, key: str) -> bool:
        try:
            return bool((await self.get(key)).booked)
        except ApiError:
            return False


class Prices:
    """Article prices in price lists (``/3/prices``), by default in the default list."""

    def __init__(self, client: FortnoxClient, default_price_list: str) -> None:
        self.client = client
        self.default_price_list = default_price_list

    def _path(self, article_number: str, price_list: str | None, from_quantity: Any = None) -> str:
        parts = [price_list or self.default_price_list, article_number]
        if from_quantity is not None:
            parts.append(str(from_quantity))
        return "prices/" + "/".join(_key(part) for part in parts)

    async def get(
        self, article_number: str, *, price_list: str | None = None, from_quantity: Any = None
    ) -> Price:
        """The article's price in the list (the first one, or the one from ``from_quantity``)."""
        body = await self.client.call("GET", self._path(article_number, price_list, from_quantity))
        return Price.model_validate(body["Price"])

    async def for_article(
        self, article_number: str, *, price_list: str | None = None
    ) -> list[Price]:
        """All quantity steps of the article's price in the list."""
        path = "prices/sublist/" + self._path(article_number, price_list).removeprefix("prices/")
        body = await self.client.call("GET", path)
        return [Price.model_validate(item) for item in body.get("Prices", [])]

    async def set(
        self,
        article_number: str,
        price: Any,
        *,
        price_list: str | None = None,
        from_quantity: Any = 0,
    ) -> Price:
        """Set the article's price, creating it when the list has none yet."""
        changes = Price(price=price)
        path = self._path(article_number, price_list, from_quantity)
        try:
            body = await self.client.call("PUT", path, json=changes.wrapped())
        except NotFound:
            new = Price(
                article_number=article_number,
                price_list=price_list or self.default_price_list,
                from_quantity=from_quantity,
                price=price,
            )
            body = await self.client.call("POST", "prices", json=new.wrapped(), idempotent=False)
        return Price.model_validate(body["Price"])

    async def delete(
        self, article_number: str, *, price_list: str | None = None, from_quantity: Any = 0
    ) -> None:
        """Remove one price step."""
        await self.client.call("DELETE", self._path(article_number, price_list, from_quantity))
