"""Documents on both sides: webCRM deliveries, and Fortnox orders or invoices.

Customers and articles sync before documents in every run, so the links they leave say which
Fortnox customer a delivery's organisation is, and which product-register item an article is:
the caller gives a way to read them then, once per run, as a :class:`LinkIndex`.

webCRM: deliveries changed since the cursor come from ``/Queries`` on ``DeliveryUpdatedAt`` (as
webCRM's own ERP integration reads them, through :mod:`~.webcrm_feed`), with those whose lines
changed (``QuotationLineUpdatedAt``: saving a line need not move its delivery's time), then their
lines, one request per delivery. A line's deletion moves neither, so it is found when the
delivery is next read for another reason, or by the full run. A delivery syncs only when its
organisation's Type is a customer type; its organisation is read once per run. Lines are
written in place, position by position: an unchanged line is left alone, a changed one updated,
missing ones created and surplus ones deleted.

Fortnox: changed orders and invoices come from ``lastmodified``, and each is read in full (list
items have no rows); or, when the change feed vouches for them, the announced ones alone (see
:class:`~.common.Announced`). The webCRM delivery id travels in ``ExternalInvoiceReference1`` (80
characters), the idempotency key looked up before a create is sent again. Rows are always sent
whole and without ``RowId`` (see :func:`~webcrm_fortnox.domain.line.rows_from_lines`). A write to
a booked (or cancelled) document is refused here, before anything is sent.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from webcrm_fortnox.domain.document import (
    COMPLETED,
    ENTITY,
    Kind,
    delivery_body,
    delivery_values,
    document_from_fortnox,
    document_payload,
    record_id,
    split_id,
)
from webcrm_fortnox.domain.line import (
    LINES,
    QuotationLineMapping,
    decode_lines,
    encode_lines,
    rows_from_lines,
)
from webcrm_fortnox.domain.normalise import text
from webcrm_fortnox.domain.types import is_synced_type
from webcrm_fortnox.engine.actions import Create
from webcrm_fortnox.engine.adapters.common import (
    Announced,
    fortnox_changes,
)
from webcrm_fortnox.engine.adapters.webcrm_feed import (
    FeedRead,
    TableCursors,
    read_changes,
    same_start,
)
from webcrm_fortnox.engine.plan import ActionKind, Plan
from webcrm_fortnox.engine.ports import (
    ChangeBatch,
    Fields,
    Link,
    SourceRecord,
    System,
    id_order,
    utcnow,
)
from webcrm_fortnox.errors import BookedInvoiceError, NotFound, ValidationError
from webcrm_fortnox.fortnox.models import Invoice, Order
from webcrm_fortnox.fortnox.refusals import about_rows
from webcrm_fortnox.webcrm.models import (
    DELIVERY,
    QUOTATION_LINE,
    Delivery,
    Organisation,
    QuotationLine,
)

if TYPE_CHECKING:
    from webcrm_fortnox.config.models import TenantConfig
    from webcrm_fortnox.fortnox.client import FortnoxClient, Invoices, Orders
    from webcrm_fortnox.webcrm.client import WebcrmClient

log = logging.getLogger(__name__)

#: Whether an article number exists in Fortnox (asked only for numbers no item is linked to).
ArticleExists = Callable[[str], Awaitable[bool]]


def fortnox_article_exists(client: FortnoxClient) -> ArticleExists:
    """An :data:`ArticleExists` that asks Fortnox (one request per article number asked)."""

    async def exists(number: str) -> bool:
        try:
            await client.articles.get(number)
        except NotFound:
            return False
        return True

    return exists


class DocumentLocked(BookedInvoiceError):
    """A change not sent because the Fortnox document can no longer change (booked, cancelled).

    Nothing was sent: Fortnox would refuse it, and accounting rules forbid the change anyway.
    """


#: The customer number a dry run shows for a customer it would create in Fortnox: Fortnox gives
#: the number when the create is sent.
NEW_CUSTOMER = "(the new Fortnox customer)"


def planned_customers(plan: Plan) -> dict[str, str]:
    """The Fortnox customer of each webCRM organisation that ``plan`` (a dry run's customer
    plan) would link or create, by organisation id: what the stored links say after the run.

    A dry run writes no links, so without these the document plan of a first sync would find
    no customer for any delivery and show skips where the sync creates documents.
    """
    customers: dict[str, str] = {}
    for action in plan.actions:
        if action.webcrm_id is None:
            continue
        if action.kind is ActionKind.LINK and action.fortnox_id is not None:
            customers[action.webcrm_id] = action.fortnox_id
        elif isinstance(action, Create) and action.source == "webcrm":
            number = text(action.base.get("customer_number"))
            customers[action.webcrm_id] = number or NEW_CUSTOMER
    return customers


@dataclass(frozen=True)
class LinkIndex:
    """The customer and article links of one tenant, as a run's documents need them.

    Attributes:
        customer_of_org: the Fortnox customer number of each linked webCRM organisation.
        org_of_customer: the other way round.
        item_of_article: the product-register item of each linked Fortnox article number.
    """

    customer_of_org: Mapping[str, str] = field(default_factory=dict)
    org_of_customer: Mapping[str, str] = field(default_factory=dict)
    item_of_article: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        customers: Iterable[Link],
        articles: Iterable[Link],
        planned: Mapping[str, str] | None = None,
    ) -> LinkIndex:
        """From the stored customer and article links; ``planned``, for a dry run, adds the
        customer links it would make, by organisation id (see :func:`planned_customers`), where
        no link is stored."""
        customers = list(customers)
        customer_of_org = {link.webcrm_id: link.fortnox_id for link in customers}
        for organisation, customer in (planned or {}).items():
            customer_of_org.setdefault(organisation, customer)
        return cls(
            customer_of_org=customer_of_org,
            org_of_customer={link.fortnox_id: link.webcrm_id for link in customers},
            item_of_article={link.fortnox_id: int(link.webcrm_id) for link in articles},
        )


#: Gives the links a run's documents need (read when first needed: an idle run needs none).
LinkSource = Callable[[], Awaitable[LinkIndex]]


class WebcrmDeliveries:
    """Deliveries of one webCRM system, as canonical documents.

    Args:
        client: the system's webCRM client.
        tenant: the tenant's configuration.
        links: gives the tenant's customer and article links, as this run's customers and
            articles left them; asked once, when a delivery is first read.
        article_exists: asked whether a line's article number exists in Fortnox when no
            product-register item is linked to that article (the answer is kept for the run).
    """

    system: System = "webcrm"
    entity: str = ENTITY

    def __init__(
        self,
        client: WebcrmClient,
        tenant: TenantConfig,
        links: LinkSource,
        article_exists: ArticleExists,
    ) -> None:
        self.client = client
        self.tenant = tenant
        self._link_source = links
        self._link_index: LinkIndex | None = None
        self.fields = tenant.documents.fields.mapping()
        self.key_field = tenant.documents.fields.fortnox_id
        self.article_exists = article_exists
        self._article_data = int(tenant.articles.article_number_field.removeprefix("Data"))
        self._name_data = int(tenant.articles.name_field.removeprefix("Data"))
        self._organisations: dict[int, Organisation | None] = {}
        self._articles: dict[str, bool] = {}

    # --- reading -------------------------------------------------------------------------------

    async def _organisation(self, organisation_id: int) -> Organisation | None:
        if organisation_id not in self._organisations:
            try:
                found: Organisation | None = await self.client.get_organisation(organisation_id)
            except NotFound:
                found = None
            self._organisations[organisation_id] = found
        return self._organisations[organisation_id]

    async def _excluded(self, delivery: Delivery) -> str | None:
        """Why the delivery does not sync, or ``None`` when it does."""
        if delivery.organisation_id is None:
            return "it belongs to no organisation"
        organisation = await self._organisation(delivery.organisation_id)
        if organisation is None:
            return f"its organisation {delivery.organisation_id} no longer exists"
        if not is_synced_type(organisation.type, self.tenant):
            return (
                f"its organisation {organisation.name or organisation.id} has Type "
                f"{organisation.type or 'none'}, which is not one of the customer types that sync"
            )
        return None

    async def _line_mapping(self, lines: list[QuotationLine]) -> QuotationLineMapping:
        links = await self._links()
        known = set(links.item_of_article)
        for line in lines:
            number = text(line.data(self._article_data))
            if number and number not in known:
                if number not in self._articles:
                    self._articles[number] = await self.article_exists(number)
                if self._articles[number]:
                    known.add(number)
        return QuotationLineMapping(self._article_data, self._name_data, frozenset(known))

    async def _lines(self, delivery_id: int) -> list[QuotationLine]:
        lines = [line async for line in self.client.quotation_lines_of_delivery(delivery_id)]
        return sorted(lines, key=lambda line: (line.sort_order, line.id))

    async def _record(self, delivery: Delivery) -> SourceRecord:
        data = delivery.model_dump(mode="json", by_alias=True)
        key = text(data.get(self.key_field)) or None
        reason = await self._excluded(delivery)
        if reason is not None:
            # Not synced: its lines are not worth a request.
            return SourceRecord(
                id=str(delivery.id),
                fields={},
                modified_at=delivery.updated_at,
                eligible=False,
                excluded_reason=reason,
                key=key,
            )
        links = await self._links()
        fields = delivery_values(data, self.fields, self.client.naive_tz)
        fields["customer_number"] = links.customer_of_org.get(str(delivery.organisation_id))
        lines = await self._lines(delivery.id)
        mapping = await self._line_mapping(lines)
        fields["lines"] = encode_lines(mapping.line(line) for line in lines)
        return SourceRecord(
            id=str(delivery.id), fields=fields, modified_at=delivery.updated_at, key=key
        )

    async def changes(self, cursor: str | None) -> ChangeBatch:
        """Deliveries updated since ``cursor``, or with a line updated since (every delivery when
        it is ``None``)."""
        table, line_table = DELIVERY.table or "", QUOTATION_LINE.table or ""
        parts = dict(TableCursors.decode(cursor, table).tables)
        lines = None if cursor is None else await self._changed_lines(parts, table, line_table)
        read = await read_changes(
            self.client,
            parts.get(table),
            self.client.deliveries,
            lambda since: self.client.changed_since(DELIVERY, since),
            # Where line changes cannot be listed, a delivery listed again within the overlap is
            # read again, lines and all, so a line edited meanwhile is caught at least there.
            skip_seen=cursor is None or lines is not None,
        )
        deliveries = list(read.rows)
        if lines is not None:
            listed = {delivery.id for delivery in deliveries}
            owners = {int(line.opportunity_id or 0) for line in lines.rows} - listed - {0}
            deliveries += [d async for d in self.client.deliveries_with_ids(owners)]
        records = [await self._record(delivery) for delivery in deliveries]
        if read.next_cursor is None:
            return ChangeBatch(records=records, next_cursor=cursor)
        parts[table] = read.next_cursor
        if lines is not None and lines.next_cursor is not None:
            parts[line_table] = lines.next_cursor
        else:
            # Lines are read from where deliveries were read, the next time they can be.
            parts[line_table] = same_start(read.next_cursor)
        return ChangeBatch(records=records, next_cursor=TableCursors(parts).encode())

    async def _changed_lines(
        self, parts: dict[str, str], table: str, line_table: str
    ) -> FeedRead[QuotationLine] | None:
        """The lines changed since their cursor; ``None`` when this webCRM refuses to list them.

        Saving a line need not move its delivery's ``DeliveryUpdatedAt`` (the reference leaves
        it open, and the emulator's does not), so line changes are read on their own table.
        """
        if not self.client.lists(QUOTATION_LINE):
            return None
        start = parts.get(line_table) or same_start(parts[table])
        try:
            return await read_changes(
                self.client,
                start,
                self.client.quotation_lines,
                lambda since: self.client.changed_since(QUOTATION_LINE, since),
            )
        except ValidationError as error:
            log.warning(
                "webCRM refuses to list changed quotation lines; a line edited alone reaches "
                "Fortnox when its delivery is next read",
                extra={"error": str(error)},
            )
            return None

    async def _links(self) -> LinkIndex:
        if self._link_index is None:
            self._link_index = await self._link_source()
        return self._link_index

    async def all(self) -> AsyncIterator[SourceRecord]:
        """Every delivery."""
        async for delivery in self.client.deliveries():
            yield await self._record(delivery)

    async def get(self, id: str) -> SourceRecord | None:
        """The delivery with this id, or ``None`` when there is none."""
        try:
            return await self._record(await self.client.get_delivery(int(id)))
        except NotFound:
            return None

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        """The delivery created from the Fortnox document ``idempotency_key``, if any."""
        found = await self.client.find_deliveries(self.key_field, idempotency_key)
        if not found:
            return None
        return await self._record(min(found, key=lambda delivery: delivery.id))

    # --- writing -------------------------------------------------------------------------------

    async def _organisation_of(self, customer_number: Any) -> int:
        links = await self._links()
        organisation = links.org_of_customer.get(str(customer_number or ""))
        if organisation is None:
            raise ValidationError(
                f"Fortnox customer {customer_number} is not linked to a webCRM organisation "
                "yet; the document follows once the customer has synced",
                system="webcrm",
                field="customer_number",
            )
        return int(organisation)

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        """Create a delivery for the Fortnox document ``idempotency_key`` (``invoice:7``).

        It goes under the organisation linked to the document's customer. One made from an
        invoice is ``Completed`` (the specification); one made from an order is ``Planned``
        (webCRM's own ERP mapping gives that status to an approved document).
        """
        organisation = await self._organisation_of(fields.get("customer_number"))
        kind, number = split_id(idempotency_key)
        body = {
            **delivery_body(fields, self.fields, [n for n in fields if n in self.fields]),
            "DeliveryOrganisationId": organisation,
            "DeliveryStatus": COMPLETED if kind == "invoice" else "Planned",
            "DeliveryDescription": f"Fortnox {kind} {number}",
            self.key_field: idempotency_key,
        }
        new_id = await self.client.create_delivery(body, unique_field=self.key_field)
        await self._write_lines(new_id, organisation, [], fields.get("lines"))
        return SourceRecord(id=str(new_id), fields=dict(fields), key=idempotency_key)

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        """Write the changed header fields (one PUT) and the changed lines."""
        delivery_id = int(id)
        body = delivery_body(changes, self.fields, [n for n in changes if n in self.fields])
        organisation: int | None = None
        if "customer_number" in changes:
            organisation = await self._organisation_of(changes["customer_number"])
            body["DeliveryOrganisationId"] = organisation
        if body:
            await self.client.update_delivery(delivery_id, body)
        if "lines" in changes:
            if organisation is None:
                organisation = (await self.client.get_delivery(delivery_id)).organisation_id or 0
            await self._write_lines(
                delivery_id, organisation, await self._lines(delivery_id), changes["lines"]
            )
        return SourceRecord(
            id=id,
            fields={**current.fields, **changes},
            modified_at=current.modified_at,
            key=current.key,
        )

    async def _write_lines(
        self, delivery_id: int, organisation: int, existing: list[QuotationLine], value: Any
    ) -> None:
        """Make the delivery's lines equal ``value``, touching only the lines that differ."""
        links = await self._links()
        wanted = decode_lines(value)
        mapping = await self._line_mapping(existing)
        for position, line in enumerate(wanted):
            item = links.item_of_article.get(line.article or "")
            body = mapping.body(line, position=position, item_id=item)
            if position < len(existing):
                if mapping.line(existing[position]) != line:
                    await self.client.update_quotation_line(existing[position].id, body)
                continue
            await self.client.create_quotation_line(
                {
                    **body,
                    "QuotationLineOpportunityId": delivery_id,
                    "QuotationLineOrganisationId": organisation,
                }
            )
        for surplus in existing[len(wanted) :]:
            await self.client.delete_quotation_line(surplus.id)


class FortnoxDocuments:
    """Orders or invoices of one Fortnox company, as canonical documents.

    Order mode (``delivery_target = "order"``): orders, plus invoices created directly in
    Fortnox; an invoice made from an order lends its number, date and booked state to the
    order's record. Invoice mode: invoices.

    Args:
        client: the company's Fortnox client.
        tenant: the tenant's configuration (``delivery_target``).
        now: the current time; cursors are taken from it.
        announced: every order and invoice changed since the cursor's read, when the change
            feed vouches for that; ``None`` reads by ``lastmodified``.
    """

    system: System = "fortnox"
    entity: str = ENTITY

    def __init__(
        self,
        client: FortnoxClient,
        tenant: TenantConfig,
        *,
        now: Callable[[], datetime] = utcnow,
        announced: Announced | None = None,
    ) -> None:
        self.client = client
        self.target: Kind = tenant.delivery_target
        self._now = now
        self.announced = announced

    def _documents(self, kind: Kind) -> Orders | Invoices:
        return self.client.orders if kind == "order" else self.client.invoices

    # --- reading -------------------------------------------------------------------------------

    async def _invoice(self, number: str, cache: dict[str, Invoice | None]) -> Invoice | None:
        if number not in cache:
            try:
                cache[number] = await self.client.invoices.get(number)
            except NotFound:
                cache[number] = None
        return cache[number]

    async def _read(
        self, id: str, cache: dict[str, Invoice | None] | None = None
    ) -> SourceRecord | None:
        kind, number = split_id(id)
        invoices = {} if cache is None else cache
        if kind == "invoice":
            invoice = await self._invoice(number, invoices)
            return None if invoice is None else self._record("invoice", invoice, None)
        try:
            order = await self.client.orders.get(number)
        except NotFound:
            return None
        invoice = None
        if order.invoice_reference is not None:
            invoice = await self._invoice(order.invoice_reference, invoices)
        return self._record("order", order, invoice)

    def _record(
        self, kind: Kind, document: Order | Invoice, invoice: Invoice | None
    ) -> SourceRecord:
        data = document.model_dump(by_alias=True)
        fields = document_from_fortnox(
            kind, data, None if invoice is None else invoice.model_dump(by_alias=True)
        )
        reason = None
        key = document.external_invoice_reference1
        if isinstance(document, Invoice) and document.credit:
            reason = f"invoice {document.document_number} is a credit invoice"
            # It copies its original's reference, but was not created from a delivery.
            key = None
        elif document.cancelled:
            reason = f"{kind} {document.document_number} is cancelled in Fortnox"
        return SourceRecord(
            id=record_id(kind, str(document.document_number)),
            fields=fields,
            eligible=reason is None,
            excluded_reason=reason,
            key=key or None,
        )

    async def _ids(self, since: datetime | None, cache: dict[str, Invoice | None]) -> list[str]:
        ids: dict[str, None] = {}
        if self.target == "order":
            orders = (
                self.client.orders.iterate()
                if since is None
                else self.client.orders.changed_since(since)
            )
            async for order in orders:
                ids[record_id("order", str(order.document_number))] = None
        items = (
            self.client.invoices.iterate()
            if since is None
            else self.client.invoices.changed_since(since)
        )
        for number in [str(item.document_number) async for item in items]:
            await self._add_invoice(ids, number, cache)
        return list(ids)

    async def _announced_ids(
        self, announced: Announced, cache: dict[str, Invoice | None]
    ) -> list[str]:
        ids: dict[str, None] = {}
        if self.target == "order":
            for number in sorted(announced.orders, key=id_order):
                ids[record_id("order", number)] = None
        for number in sorted(announced.invoices, key=id_order):
            await self._add_invoice(ids, number, cache)
        return list(ids)

    async def _add_invoice(
        self, ids: dict[str, None], number: str, cache: dict[str, Invoice | None]
    ) -> None:
        invoice = await self._invoice(number, cache)
        if invoice is None:
            return
        if self.target == "order" and invoice.order_reference is not None:
            # Made from an order: its booking shows on the order's record.
            ids[record_id("order", invoice.order_reference)] = None
        else:
            ids[record_id("invoice", number)] = None

    async def changes(self, cursor: str | None) -> ChangeBatch:
        """Documents changed since ``cursor`` (every one when it is ``None``), read in full; only
        the announced ones, with the cursor left as it is, when the change feed vouches for
        them."""
        cache: dict[str, Invoice | None] = {}

        async def read(ids: list[str]) -> list[SourceRecord]:
            records = [await self._read(id, cache) for id in ids]
            return [record for record in records if record is not None]

        async def read_announced(announced: Announced) -> list[SourceRecord]:
            return await read(await self._announced_ids(announced, cache))

        async def read_listed(since: datetime | None, started: datetime) -> list[SourceRecord]:
            return await read(await self._ids(since, cache))

        return await fortnox_changes(
            cursor,
            self.announced,
            self._now,
            read_announced=read_announced,
            read_listed=read_listed,
        )

    async def all(self) -> AsyncIterator[SourceRecord]:
        """Every document."""
        for record in (await self.changes(None)).records:
            yield record

    async def get(self, id: str) -> SourceRecord | None:
        """The document with this id (``order:12``), or ``None`` when there is none."""
        return await self._read(id)

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        """The document created from webCRM delivery ``idempotency_key``, if any.

        An exact match of ``ExternalInvoiceReference1`` (Fortnox's search matches substrings).
        """
        found = await self._documents(self.target).find_by_external_reference(idempotency_key)
        for number in sorted((str(item.document_number) for item in found), key=id_order):
            record = await self._read(record_id(self.target, number))
            if record is not None and record.key == idempotency_key:
                return record
        return None

    # --- writing -------------------------------------------------------------------------------

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        """Create an order or invoice for webCRM delivery ``idempotency_key``."""
        kind = self.target
        body = document_payload(kind, fields, fields)
        body["ExternalInvoiceReference1"] = idempotency_key
        body[_rows(kind)] = rows_from_lines(decode_lines(fields.get("lines")), _quantity(kind))
        with _rows_blamed():
            if kind == "order":
                order = await self.client.orders.create(Order.model_validate(body))
                return self._record("order", order, None)
            invoice = await self.client.invoices.create(Invoice.model_validate(body))
        return self._record("invoice", invoice, None)

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        """Send the changed fields; refuse, without sending, a change to a locked document."""
        kind, number = split_id(id)
        refuse_locked(kind, number, current)
        body = document_payload(kind, {**current.fields, **changes}, changes)
        if "lines" in changes:
            body[_rows(kind)] = rows_from_lines(decode_lines(changes["lines"]), _quantity(kind))
        if not body:
            return current
        with _rows_blamed():
            if kind == "order":
                written: Order | Invoice = await self.client.orders.update(
                    number, Order.model_validate(body)
                )
            else:
                written = await self.client.invoices.update(number, Invoice.model_validate(body))
        record = self._record(kind, written, None)
        # An order's invoice did not change with it: keep what was read.
        invoice_fields = ("invoice_number", "invoice_date", "invoice_booked")
        kept = {
            n: current.fields[n] for n in invoice_fields if kind == "order" and n in current.fields
        }
        return SourceRecord(
            id=record.id,
            fields={**record.fields, **kept},
            eligible=record.eligible,
            excluded_reason=record.excluded_reason,
            key=record.key,
        )


def refuse_locked(kind: Kind, number: str, current: SourceRecord) -> None:
    """Raise :class:`DocumentLocked` when ``current`` (a Fortnox document as read) is booked
    or cancelled: no change may be sent to it."""
    if current.fields.get("invoice_booked"):
        invoice = current.fields.get("invoice_number") or number
        whose = (
            f"invoice {invoice}" if kind == "invoice" else f"invoice {invoice} of order {number}"
        )
        raise DocumentLocked(
            f"locked: {whose} is booked in Fortnox, and a booked invoice never changes; the "
            "change made in webCRM was not sent and stays in webCRM",
            system="fortnox",
        )
    if not current.eligible:
        raise DocumentLocked(
            f"locked: {current.excluded_reason}; the change made in webCRM was not sent and "
            "stays in webCRM",
            system="fortnox",
        )


@contextlib.contextmanager
def _rows_blamed() -> Iterator[None]:
    """A refusal about the rows that names no field blames the document's ``lines``, so that
    ``errors`` says which part of the document to fix."""
    try:
        yield
    except ValidationError as error:
        if error.field is None and about_rows(error.code, error.vendor_message):
            error.field = LINES
        raise


def _rows(kind: Kind) -> str:
    return "OrderRows" if kind == "order" else "InvoiceRows"


def _quantity(kind: Kind) -> str:
    return "OrderedQuantity" if kind == "order" else "DeliveredQuantity"
