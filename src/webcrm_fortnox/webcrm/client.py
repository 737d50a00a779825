"""The async webCRM REST client the sync engine uses in production.

One :class:`WebcrmClient` per webCRM system (application token). It builds on the shared
:class:`~webcrm_fortnox.transport.ApiTransport` for the limiter, retries and the one re-login
after a 401, and adds what is webCRM's own:

- pages: lists take ``Page``/``Size`` and return a bare array, ``[]`` past the end;
- creates that answer with a bare id, an object holding the id, or nothing at all, and a lookup
  by a unique field when the answer is missing or lost (reference §9 Q1/Q2);
- updates as one PUT of the fields that change, which webCRM merges (§4.4; the product
  register's items, whose Data fields must never be empty, are sent whole, as read);
- ``/Queries`` scripts built by :mod:`webcrm_fortnox.webcrm.queries`, and
  :meth:`WebcrmClient.changed_since` on top of them;
- webCRM's own clock, read from the ``Date`` header of its answers
  (:meth:`WebcrmClient.server_time`), so change cursors never depend on ours.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, get_args, overload

import httpx

from webcrm_fortnox.errors import ApiError, NotFound, TransientError, ValidationError
from webcrm_fortnox.transport.http import ApiTransport, CallStats, http_client
from webcrm_fortnox.transport.limiters import LimiterRegistry
from webcrm_fortnox.transport.retry import RetryPolicy
from webcrm_fortnox.webcrm.auth import ApiTokenAuth
from webcrm_fortnox.webcrm.classify import SYSTEM, classify, read_body
from webcrm_fortnox.webcrm.models import (
    CHANGE_TRACKED,
    DELIVERY,
    ORGANISATION,
    PERSON,
    PRODUCT_REGISTER,
    QUOTATION_LINE,
    WEBCRM_TZ,
    Delivery,
    FieldMetadata,
    Hook,
    Kind,
    LinkedDataItem,
    LinkedSetup,
    M,
    Organisation,
    Person,
    QuotationLine,
    WebcrmModel,
    parse_timestamp,
)
from webcrm_fortnox.webcrm.queries import Query, Value
from webcrm_fortnox.webcrm.timing import DEFAULT_OVERLAP

DEFAULT_BASE_URL = "https://api.webcrm.com"
#: recorded: 250 requests per sliding minute per application token (api.webcrm.com, 2021)
WEBCRM_LIMIT = 250
#: What the client allows itself: a few under webCRM's count (as Fortnox's client keeps 24 of 25),
#: since webCRM counts a request when it arrives and we when it leaves, and transit times differ.
RATE_LIMIT = WEBCRM_LIMIT - 5
RATE_PERIOD = 60.0
MAX_PAGE_SIZE = 1000
#: Ids per ``(DeliveryId = … OR …)`` query: keeps the script, sent in the URL, under 2 KB.
IDS_PER_QUERY = 50

# /FieldsMetadata/{entityTypes} accepts these names (swagger v1, 2019).
FIELD_METADATA_TYPES = frozenset(
    {
        "Activity",
        "Delivery",
        "Event",
        "Opportunity",
        "Organisation",
        "Person",
        "Product",
        "SupportCase",
        "User",
        "SyncedMeeting",
        "All",
    }
)
HookEntity = Literal["Organisations", "Persons", "Deliveries", "QuotationLines", "Products"]
HOOK_ENTITIES: frozenset[str] = frozenset(get_args(HookEntity))
# recorded: product-register Data fields must not be empty; the official integration writes "-"
EMPTY_DATA = "-"

Record = WebcrmModel | Mapping[str, Any]


def webcrm_limiters(
    limit: int = RATE_LIMIT,
    period: float = RATE_PERIOD,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> LimiterRegistry:
    """A registry of webCRM limiters (245 a minute each); share one among all clients."""
    return LimiterRegistry(limit, period, monotonic=monotonic, sleep=sleep)


def limiter_key(api_token: str) -> str:
    """The registry key of an application token (a digest, so no secret sits in the key)."""
    return "webcrm:" + hashlib.sha256(api_token.encode()).hexdigest()[:24]


def _id_in(body: Any, id_field: str) -> int | None:
    """The new record's id in a create's answer: a bare int, ``{"<X>Id": n}``, or nothing."""
    if isinstance(body, dict):
        body = body.get(id_field)
    if isinstance(body, str) and body.strip().isdigit():
        body = int(body)
    if isinstance(body, int) and not isinstance(body, bool) and body > 0:
        return body
    return None


class WebcrmClient:
    """Talks to one webCRM system.

    Args:
        api_token: the system's application token.
        base_url: the API root (the emulator's URL in tests and demos).
        limiters: the registry shared by every client of the process, so that all clients of one
            token draw from one limiter; a private one when omitted.
        http: the :class:`httpx.AsyncClient` to send with (tests pass an ASGI one); owned and
            closed by the client when omitted.
        retry: backoff settings.
        clock: monotonic seconds for token renewal (tests pass the emulator's clock).
        sleep: the sleeper for backoff and for a private limiter.
        page_size: ``Size`` of each page, at most 1000.
        naive_tz: the zone of timestamps that carry no offset (webCRM's own, Copenhagen).
        create_attempts: how often a create with a unique field is sent in all, when its answer
            was lost and the lookup shows it did not happen.
    """

    def __init__(
        self,
        api_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        limiters: LimiterRegistry | None = None,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        page_size: int = MAX_PAGE_SIZE,
        naive_tz: tzinfo = WEBCRM_TZ,
        create_attempts: int = 3,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        self.page_size = page_size
        self.naive_tz = naive_tz
        self.create_attempts = max(1, create_attempts)
        self._sleep = sleep
        #: webCRM's clock less ours, from the newest ``Date`` header (``None`` before one came)
        self._clock_offset: timedelta | None = None
        #: setup reads (field metadata, product-register setup): path → (monotonic time, body)
        self._setup: dict[str, tuple[float, Any]] = {}
        #: refusable ``/Queries`` tables this system answered with a 400 (see :meth:`lists`)
        self._refused: set[str] = set()
        self._owns_http = http is None
        self.http = http or http_client()
        # not ``limiters or …``: an empty registry is falsy, and must still be shared
        registry = (
            limiters if limiters is not None else webcrm_limiters(monotonic=clock, sleep=sleep)
        )
        self.limiter = registry.get(limiter_key(api_token))
        self.auth = ApiTokenAuth.create(
            api_token,
            base_url=base_url,
            http=self.http,
            limiter=self.limiter,
            clock=clock,
            retry=retry,
            sleep=sleep,
        )
        self.transport = ApiTransport(
            system=SYSTEM,
            base_url=base_url,
            auth=self.auth,
            classify=classify,
            limiter=self.limiter,
            retry=retry,
            http=self.http,
            sleep=sleep,
        )

    @property
    def stats(self) -> CallStats:
        """Calls, 429s and retries so far."""
        return self.transport.stats

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> WebcrmClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- plumbing -------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        response = await self.transport.request(method, path, params=params, json=json)
        self._note_server_time(response)
        return read_body(response)

    def _note_server_time(self, response: httpx.Response) -> None:
        date = response.headers.get("date")
        if not date:
            return
        try:
            server = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if server.tzinfo is not None:
            # ``Date`` has whole seconds, cut down: the offset errs early, which is the safe side.
            self._clock_offset = server - datetime.now(UTC)

    def server_time(self, local: datetime | None = None) -> datetime | None:
        """What webCRM's clock showed at the instant ``local`` of ours (default: now).

        Taken from the ``Date`` header of the newest answer (HTTP servers send it; whole
        seconds), so it may run up to a second and a round trip early, never late. ``None``
        before the first answer, or when webCRM sends no usable ``Date``.
        """
        if self._clock_offset is None:
            return None
        return (local or datetime.now(UTC)) + self._clock_offset

    def _parse(self, model: type[M], row: Any) -> M:
        return model.model_validate(row, context={"naive_tz": self.naive_tz})

    async def pages(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a paged list, ``Page`` 1, 2, … until webCRM answers ``[]``.

        webCRM's lists carry no total and no next link (reference §4.1), so a short page does not
        prove the end; only an empty one does.
        """
        page = 1
        while True:
            body = await self._call(
                "GET", path, params={**(params or {}), "Page": page, "Size": self.page_size}
            )
            if not isinstance(body, list):
                raise ApiError(f"webCRM answered {path} with no list", system=SYSTEM)
            if not body:
                return
            yield body
            page += 1

    async def _iterate(self, model: type[M], path: str) -> AsyncIterator[M]:
        async for rows in self.pages(path):
            for row in rows:
                yield self._parse(model, row)

    async def _get(self, kind: Kind[M], record_id: int) -> M:
        return self._parse(kind.model, await self._call("GET", f"{kind.path}/{record_id}"))

    def _body(self, kind: Kind[Any], record: Record) -> dict[str, Any]:
        """``record`` as a request body of ``kind``: wire names, webCRM's unset conventions."""
        model = record if isinstance(record, WebcrmModel) else self._parse(kind.model, record)
        body = model.to_wire()
        wrong = [name for name in body if not name.startswith(kind.prefix)]
        if wrong:
            raise ValueError(f"not fields of a webCRM {kind.prefix}: {', '.join(sorted(wrong))}")
        return body

    @staticmethod
    def _complete(kind: Kind[Any], body: dict[str, Any]) -> dict[str, Any]:
        """A whole body as webCRM accepts it: product-register Data fields never empty."""
        if kind is PRODUCT_REGISTER:
            for n in range(1, 10):
                name = f"{kind.prefix}Data{n}"
                if not body.get(name):
                    body[name] = EMPTY_DATA
        return body

    async def _create(self, kind: Kind[Any], record: Record, unique_field: str | None) -> int:
        body = self._complete(kind, {**self._body(kind, record), kind.id_field: 0})
        unique: tuple[str, Value] | None = None
        if unique_field is not None:
            value = body.get(unique_field)
            if not isinstance(value, str | int) or value in ("", 0):
                raise ValueError(f"the new {kind.prefix} has no value in {unique_field}")
            unique = (unique_field, value)
        for attempt in range(1, self.create_attempts + 1):
            try:
                answer = await self._call("POST", kind.path, json=body)
            except TransientError as error:
                # The create may or may not have happened (lost answer, or webCRM's failing
                # creates under fast id generation, §9 Q2): only a lookup can tell.
                if unique is None:
                    raise
                found = await self._find_one(kind, *unique)
                if found is not None:
                    return found
                if attempt == self.create_attempts:
                    raise
                await self._sleep(self.transport.retry.delay(attempt, error))
                continue
            new_id = _id_in(answer, kind.id_field)
            if new_id is not None:
                return new_id
            if unique is None:
                raise ApiError(
                    f"webCRM created the {kind.prefix} without saying its id; create it with a "
                    "unique field to find it by",
                    system=SYSTEM,
                    body=str(answer),
                )
            found = await self._find_one(kind, *unique)
            if found is not None:
                return found
            raise ApiError(
                f"webCRM accepted the new {kind.prefix} but no record has {unique[0]} = "
                f"{unique[1]!r}",
                system=SYSTEM,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _find_one(self, kind: Kind[Any], name: str, value: Value) -> int | None:
        found = await self._find(kind, name, value)
        if len(found) > 1:
            raise ApiError(
                f"{len(found)} webCRM {kind.prefix} records have {name} = {value!r}, which "
                "should be unique; mark the field unique in webCRM and merge the duplicates",
                system=SYSTEM,
            )
        return int(found[0].wire(kind.id_field)) if found else None

    async def _find(self, kind: Kind[M], name: str, value: Value) -> list[M]:
        if kind.table is not None:
            query = Query(kind.table).where(name, "=", value)
            rows = [row async for row in self.query(query)]
        elif not kind.paged:
            listing = await self._call("GET", kind.path)
            rows = listing if isinstance(listing, list) else []
        else:
            raise ValueError(f"webCRM {kind.prefix} records cannot be looked up by a field")
        # webCRM compares case-insensitively; an exact match wins when both exist.
        candidates = [self._parse(kind.model, row) for row in rows]
        matching = [c for c in candidates if _same(c.wire(name), value, exact=False)]
        exact = [c for c in matching if _same(c.wire(name), value, exact=True)]
        return exact or matching

    async def _update(self, kind: Kind[Any], record_id: int, changes: Record) -> None:
        body = {**self._body(kind, changes), kind.id_field: record_id}
        if kind is PRODUCT_REGISTER:
            # An item's Data fields must never be empty: the whole item is sent, as read.
            current = await self._call("GET", f"{kind.path}/{record_id}")
            if not isinstance(current, dict):
                raise ApiError(
                    f"webCRM answered {kind.path}/{record_id} with no record", system=SYSTEM
                )
            body = self._complete(kind, {**current, **body})
        # Only the fields that change: webCRM's PUT merges the keys it is sent (reference §4.4:
        # a production integration PUTs a person's status alone, without the last name webCRM
        # requires), so one request does what GET + PUT of the whole record did.
        await self._call("PUT", f"{kind.path}/{record_id}", json=body)

    async def _delete(self, path: str, missing_ok: bool) -> None:
        try:
            await self._call("DELETE", path)
        except NotFound:
            # A retried delete whose first answer was lost meets a 404: the record is gone.
            if not missing_ok:
                raise

    # -- organisations --------------------------------------------------------------------------

    def organisations(self) -> AsyncIterator[Organisation]:
        """Every organisation, in webCRM's order (by id)."""
        return self._iterate(Organisation, ORGANISATION.path)

    async def get_organisation(self, organisation_id: int) -> Organisation:
        """One organisation. Raises :class:`NotFound` when there is none."""
        return await self._get(ORGANISATION, organisation_id)

    async def create_organisation(
        self, organisation: Organisation | Mapping[str, Any], *, unique_field: str | None = None
    ) -> int:
        """Create an organisation and return its id.

        Args:
            organisation: the fields to set (a model, or wire names such as ``OrganisationName``).
            unique_field: a field flagged unique in webCRM (``OrganisationExtraCustom8``, say)
                whose value the new organisation carries. webCRM's answer to this POST has no
                documented body (reference §9 Q1); when it names no id, or was lost, the record
                is looked up by this field instead of being created twice.
        """
        return await self._create(ORGANISATION, organisation, unique_field)

    async def update_organisation(
        self, organisation_id: int, changes: Organisation | Mapping[str, Any]
    ) -> None:
        """Change some fields (one PUT of those fields; webCRM keeps the others)."""
        await self._update(ORGANISATION, organisation_id, changes)

    async def find_organisations(self, field: str, value: Value) -> list[Organisation]:
        """Organisations whose ``field`` equals ``value`` (case-insensitively, as webCRM does)."""
        return await self._find(ORGANISATION, field, value)

    def organisations_updated_between(
        self, start: datetime, end: datetime
    ) -> AsyncIterator[Organisation]:
        """``/Organisations/FindByUpdateDates``: updated at or after ``start``, before ``end``.

        Both are sent as webCRM-local time without offset, the form the vendor's generated client
        sends (``2018-06-01T10:00:00``).
        """
        path = (
            f"{ORGANISATION.path}/FindByUpdateDates/{self._path_time(start)}/{self._path_time(end)}"
        )
        return self._iterate(Organisation, path)

    def _path_time(self, when: datetime) -> str:
        if when.tzinfo is None:
            raise ValueError("give timezone-aware datetimes")
        return when.astimezone(self.naive_tz).strftime("%Y-%m-%dT%H:%M:%S")

    # -- persons --------------------------------------------------------------------------------

    async def create_person(self, person: Person | Mapping[str, Any]) -> int:
        """Create a person (``PersonLastName`` is mandatory) and return the new id."""
        return await self._create(PERSON, person, None)

    def persons_of_organisation(self, organisation_id: int) -> AsyncIterator[Person]:
        """The persons of one organisation (``/Organisations/{id}/Persons``)."""
        return self._iterate(Person, f"{ORGANISATION.path}/{organisation_id}/Persons")

    # -- deliveries -----------------------------------------------------------------------------

    def deliveries(self) -> AsyncIterator[Delivery]:
        """Every delivery, in webCRM's order (by id)."""
        return self._iterate(Delivery, DELIVERY.path)

    async def get_delivery(self, delivery_id: int) -> Delivery:
        """One delivery. Raises :class:`NotFound` when there is none."""
        return await self._get(DELIVERY, delivery_id)

    async def create_delivery(
        self, delivery: Delivery | Mapping[str, Any], *, unique_field: str | None = None
    ) -> int:
        """Create a delivery and return its id (see :meth:`create_organisation` on
        ``unique_field``, e.g. a ``DeliveryCustom`` field holding the Fortnox document id)."""
        return await self._create(DELIVERY, delivery, unique_field)

    async def update_delivery(
        self, delivery_id: int, changes: Delivery | Mapping[str, Any]
    ) -> None:
        """Change some fields of a delivery (one PUT of those fields)."""
        await self._update(DELIVERY, delivery_id, changes)

    async def find_deliveries(self, field: str, value: Value) -> list[Delivery]:
        """Deliveries whose ``field`` equals ``value``."""
        return await self._find(DELIVERY, field, value)

    async def deliveries_with_ids(self, ids: Iterable[int]) -> AsyncIterator[Delivery]:
        """The deliveries among ``ids`` (an id of no delivery, an opportunity's say, is left
        out): one ``/Queries`` request per :data:`IDS_PER_QUERY` ids."""
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), IDS_PER_QUERY):
            chunk = tuple(wanted[start : start + IDS_PER_QUERY])
            async for row in self.query(Query(DELIVERY.table or "").where_any("DeliveryId", chunk)):
                yield self._parse(Delivery, row)

    def deliveries_of_organisation(self, organisation_id: int) -> AsyncIterator[Delivery]:
        """``/Deliveries/ByOrganisation/{id}``."""
        return self._iterate(Delivery, f"{DELIVERY.path}/ByOrganisation/{organisation_id}")

    def quotation_lines_of_delivery(self, delivery_id: int) -> AsyncIterator[QuotationLine]:
        """``/Deliveries/{id}/QuotationLines``: the lines of one delivery."""
        return self._iterate(QuotationLine, f"{DELIVERY.path}/{delivery_id}/QuotationLines")

    # -- quotation lines ------------------------------------------------------------------------

    def quotation_lines(self) -> AsyncIterator[QuotationLine]:
        """Every line, of deliveries and opportunities alike (``GET /QuotationLines``)."""
        return self._iterate(QuotationLine, QUOTATION_LINE.path)

    async def create_quotation_line(self, line: QuotationLine | Mapping[str, Any]) -> int:
        """Create a line; set ``opportunity_id`` to the delivery's id to attach it there."""
        return await self._create(QUOTATION_LINE, line, None)

    async def update_quotation_line(
        self, line_id: int, changes: QuotationLine | Mapping[str, Any]
    ) -> None:
        """Change some fields of a line (one PUT of those fields)."""
        await self._update(QUOTATION_LINE, line_id, changes)

    async def delete_quotation_line(self, line_id: int, *, missing_ok: bool = True) -> None:
        """Delete a line; one already gone counts as deleted unless ``missing_ok`` is off."""
        await self._delete(f"{QUOTATION_LINE.path}/{line_id}", missing_ok)

    # -- product register (QuotationLines/LinkedData) ---------------------------------------------

    async def product_register(self) -> list[LinkedDataItem]:
        """Every item of the product register (one unpaged call, as the API offers it)."""
        body = await self._call("GET", PRODUCT_REGISTER.path)
        return [self._parse(LinkedDataItem, row) for row in body or []]

    async def get_product_register_item(self, item_id: int) -> LinkedDataItem:
        """One item of the product register."""
        return await self._get(PRODUCT_REGISTER, item_id)

    async def create_product_register_item(
        self, item: LinkedDataItem | Mapping[str, Any], *, unique_field: str | None = None
    ) -> int:
        """Add an item; unused ``Data`` fields are sent as ``"-"`` because webCRM refuses empty
        ones. ``unique_field`` (e.g. the Data field holding the article number) resolves a lost
        answer as in :meth:`create_organisation`."""
        return await self._create(PRODUCT_REGISTER, item, unique_field)

    async def update_product_register_item(
        self, item_id: int, changes: LinkedDataItem | Mapping[str, Any]
    ) -> None:
        """Change some fields of an item (GET, merge, PUT)."""
        await self._update(PRODUCT_REGISTER, item_id, changes)

    async def find_product_register_items(self, field: str, value: Value) -> list[LinkedDataItem]:
        """Items whose ``field`` (e.g. ``QuotationLineLinkedDataItemData1``) equals ``value``."""
        return await self._find(PRODUCT_REGISTER, field, value)

    async def _setup_read(self, path: str, max_age: float) -> Any:
        """The body of a setup read, or the one kept from a read at most ``max_age`` s ago."""
        kept = self._setup.get(path)
        if kept is not None and time.monotonic() - kept[0] <= max_age:
            return kept[1]
        body = await self._call("GET", path)
        self._setup[path] = (time.monotonic(), body)
        return body

    def forget_setup(self) -> None:
        """Drop the setup reads kept, so the next ones ask webCRM (after a setup was found
        incomplete, say, and a person may be fixing it)."""
        self._setup.clear()

    async def quotation_line_setup(self, *, max_age: float = 0.0) -> LinkedSetup:
        """``/QuotationLines/LinkedSetup``: what each ``Data`` field of the register means.

        Args:
            max_age: seconds for which an earlier answer of this client is good enough.
        """
        body = await self._setup_read("QuotationLines/LinkedSetup", max_age)
        return self._parse(LinkedSetup, body)

    # -- configuration and hooks ----------------------------------------------------------------

    async def fields_metadata(
        self, entity_type: str, *, max_age: float = 0.0
    ) -> list[FieldMetadata]:
        """Labels, types and dropdown values of an entity's fields (``Organisation``...).

        Args:
            entity_type: one of webCRM's entity type names.
            max_age: seconds for which an earlier answer of this client is good enough.
        """
        if entity_type not in FIELD_METADATA_TYPES:
            raise ValueError(f"unknown entity type {entity_type!r} for /FieldsMetadata")
        body = await self._setup_read(f"FieldsMetadata/{entity_type}", max_age)
        return [self._parse(FieldMetadata, row) for row in body or []]

    def hooks(self, entity: HookEntity) -> AsyncIterator[Hook]:
        """The hooks this token has registered on ``entity`` (webCRM shows each token its own)."""
        return self._iterate(Hook, _hook_path(entity))

    async def create_hook(self, entity: HookEntity, hook: Hook) -> int:
        """Register a hook and return its id."""
        # the audit fields are the server's to set (they read null on a new hook, §8.1)
        audit = {"created_at", "created_by", "updated_at", "updated_by"}
        body = {**hook.model_dump(mode="json", by_alias=True, exclude=audit), "Id": 0}
        new_id = _id_in(await self._call("POST", _hook_path(entity), json=body), "Id")
        if new_id is None:
            raise ApiError("webCRM created the hook without saying its id", system=SYSTEM)
        return new_id

    async def delete_hook(
        self, entity: HookEntity, hook_id: int, *, missing_ok: bool = True
    ) -> None:
        """Remove a hook."""
        await self._delete(f"{_hook_path(entity)}/{hook_id}", missing_ok)

    # -- queries --------------------------------------------------------------------------------

    def lists(self, kind: Kind[Any]) -> bool:
        """Whether ``kind``'s table is read through ``/Queries`` on this system: not once the
        system refused a table it may refuse (quotation lines), for the client's lifetime."""
        return kind.table is not None and kind.table not in self._refused

    async def _queries(self, kind: Kind[Any], params: Mapping[str, Any]) -> Any:
        """One ``/Queries`` page of ``kind``'s table (the refusal of a refusable one is kept)."""
        try:
            return await self._call("GET", "Queries", params=params)
        except ValidationError:
            if kind.refusable and kind.table is not None:
                self._refused.add(kind.table)
            raise

    async def newest(
        self, kind: Kind[Any], since: datetime | None, *, size: int
    ) -> list[dict[str, Any]]:
        """The ``size`` rows of ``kind``'s table updated last (at or after ``since``, when
        given), newest first, as raw rows of API field names: one request that tells whether
        anything changed.

        Raises:
            ValidationError: the system refuses to list the table (see :meth:`lists`).
        """
        if kind.table is None:
            raise ValueError(f"{kind.path} cannot be read through /Queries")
        query = Query(kind.table)
        if since is not None:
            query = query.where(kind.updated_field, ">=", since)
        query = query.order_by(kind.updated_field, "DESC")
        rows = await self._queries(kind, {"script": query.script, "Page": 1, "Size": size})
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    async def query(self, query: Query) -> AsyncIterator[dict[str, Any]]:
        """The rows of a ``/Queries`` script, every page, as flat objects of API field names.

        Custom fields are asked for in the format of the regular endpoints
        (``formatCustomFields=true``), so rows parse into the same models.
        """
        params = {"script": query.script, "formatCustomFields": "true"}
        async for rows in self.pages("Queries", params):
            for row in rows:
                yield row

    @overload
    def changed_since(
        self, entity: Kind[M], when: datetime, *, overlap: timedelta = ...
    ) -> AsyncIterator[M]: ...

    @overload
    def changed_since(
        self, entity: str, when: datetime, *, overlap: timedelta = ...
    ) -> AsyncIterator[WebcrmModel]: ...

    def changed_since(
        self, entity: Kind[Any] | str, when: datetime, *, overlap: timedelta = DEFAULT_OVERLAP
    ) -> AsyncIterator[Any]:
        """Records of ``entity`` updated at or after ``when - overlap``, oldest update first.

        Args:
            entity: ``"Organisation"``, ``"Person"``, ``"Delivery"`` or ``"QuotationLine"`` (or
                their :class:`Kind`; a system may refuse the last with a 400, see
                :data:`~webcrm_fortnox.webcrm.models.QUOTATION_LINE`).
            when: the cursor, timezone-aware.
            overlap: how far before ``when`` to start reading again.

        Pages by key rather than by page number: each query starts at the newest ``UpdatedAt``
        seen so far, so a record saved during the read moves behind the cursor instead of
        shifting the pages and making another record fall between them. A record may come twice
        (the overlap, or a second save); the engine compares against its base anyway.
        """
        kind = entity if isinstance(entity, Kind) else CHANGE_TRACKED.get(entity.lower())
        if kind is None or kind.table is None:
            raise ValueError(f"changes of {entity!r} cannot be read through /Queries")
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        return self._changed_since(kind, when - overlap)

    async def _changed_since(self, kind: Kind[M], start: datetime) -> AsyncIterator[M]:
        assert kind.table is not None
        field = kind.updated_field
        bound = start.astimezone(UTC)
        page = 1
        seen: set[int] = set()  # ids already given whose update time equals ``bound``
        while True:
            query = Query(kind.table).where(field, ">=", bound).order_by(field, "ASC")
            params = {
                "script": query.script,
                "formatCustomFields": "true",
                "Page": page,
                "Size": self.page_size,
            }
            rows = await self._queries(kind, params)
            if not rows:
                return
            newest = bound
            for row in rows:
                updated = _updated_at(row.get(field), self.naive_tz)
                if updated is not None and updated < bound:
                    # Older than the cursor by webCRM's own offset: a server comparing in
                    # another zone sent it, and it was given already or lies before ``start``.
                    continue
                record = self._parse(kind.model, row)
                if updated is not None and updated > newest:
                    newest, seen = updated, set()
                record_id = int(row.get(kind.id_field) or 0)
                if record_id in seen:
                    continue
                if updated is not None and updated == newest:
                    seen.add(record_id)
                yield record
            if newest > bound:
                bound, page = newest, 1
            else:
                # A whole page updated in the same second: step through it by page number.
                page += 1


def _updated_at(value: Any, naive_tz: tzinfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value, naive_tz)
    except ValueError:
        return None


def _same(found: Any, wanted: Value, *, exact: bool) -> bool:
    if exact:
        return str(found) == str(wanted)
    return str(found).casefold() == str(wanted).casefold()


def _hook_path(entity: str) -> str:
    if entity not in HOOK_ENTITIES:
        raise ValueError(f"webCRM has no hooks on {entity!r}")
    return f"{entity}/Hooks"
