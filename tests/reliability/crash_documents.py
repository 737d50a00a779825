"""Documents in the crash test: what people make and edit, and what must hold afterwards.

People enter deliveries with quotation lines in webCRM (most under organisations whose Type
syncs, a few under prospects, which must stay in webCRM alone) and orders and invoices with
rows in Fortnox, and edit them between runs, each in the system it was made in: order and
delivery dates, a line's quantity, one more line. Lines name a Fortnox article (by its number,
as a sales person types it into a line) or are free text.

:func:`document_problems` reads both systems through the product's own record sources (so the
comparison is on the canonical document fields the sync promises to keep equal) and the links
through the state store, and lists everything that breaks a promise: a document twice on a side
(by idempotency key: the webCRM delivery id in Fortnox's ``ExternalInvoiceReference1``, the
Fortnox ``order:N``/``invoice:N`` in the configured webCRM delivery field), a document nobody
made, an eligible one not linked exactly once, an excluded one sent, a difference in a synced
field or the lines, an edit missing.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.domain.article import ENTITY as ARTICLE
from webcrm_fortnox.domain.customer_spec import ENTITY as CUSTOMER
from webcrm_fortnox.domain.document import ENTITY, document_spec, record_id
from webcrm_fortnox.domain.line import Line, decode_lines, encode_lines
from webcrm_fortnox.engine.adapters import LinkIndex, document_sources
from webcrm_fortnox.engine.ports import SourceRecord, StateStore, System, Value
from webcrm_fortnox.fortnox.models import Article, Invoice, Order
from webcrm_fortnox.service.connections import TenantClients

#: Fortnox articles lines may name: (description, list price).
ARTICLES = (("Hammare", 99), ("Skruvdragare", 1290), ("Stege", 749), ("Arbetshandskar", 59))
SERVICES = ("Installation", "Konsulttimme", "Frakt", "Montering", "Service")
VAT = 25


@dataclass
class Document:
    """A document a person made, and the synced values it must show on both sides.

    Attributes:
        system: where it was made.
        id: its id there: the webCRM delivery id, or Fortnox's ``order:12`` / ``invoice:7``.
        eligible: whether it syncs (a delivery under a prospect does not).
        lines: its lines, as the person entered them.
        header: canonical header fields the person set (``order_date``, ``delivery_date``).
    """

    system: System
    id: str
    eligible: bool
    lines: list[Line]
    header: dict[str, Value] = field(default_factory=dict)

    def expected(self) -> dict[str, Value]:
        return {**self.header, "lines": encode_lines(self.lines)}


class Paperwork:
    """People entering and editing documents in both systems."""

    def __init__(self, config: TenantConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        #: article number → (description, list price)
        self.articles: dict[str, tuple[str, int]] = {}
        self.documents: dict[str, Document] = {}
        self.edits = 0

    @property
    def deliveries(self) -> int:
        return sum(1 for d in self.documents.values() if d.system == "webcrm")

    @property
    def fortnox_documents(self) -> int:
        return sum(1 for d in self.documents.values() if d.system == "fortnox")

    # --- making ------------------------------------------------------------------------------

    async def create_articles(self, clients: TenantClients) -> None:
        for description, price in ARTICLES:
            article = await clients.fortnox.articles.create(
                Article(description=description, purchase_price=price // 2)
            )
            number = str(article.article_number)
            await clients.fortnox.prices.set(number, price)
            self.articles[number] = (description, price)

    def _lines(self, count: int | None = None) -> list[Line]:
        lines = []
        for _ in range(count if count is not None else self.rng.randint(1, 3)):
            quantity = self.rng.randint(1, 20)
            if self.articles and self.rng.random() < 0.5:
                number = self.rng.choice(sorted(self.articles))
                description, price = self.articles[number]
                article: str | None = number
            else:
                article, description = None, self.rng.choice(SERVICES)
                price = self.rng.randint(1, 400) * 25
            lines.append(
                Line.of(
                    article=article,
                    description=description,
                    quantity=quantity,
                    price=price,
                    discount=0,
                    vat=VAT,
                )
            )
        return lines

    def _day(self, month: int) -> str:
        return f"2026-{month:02d}-{self.rng.randint(1, 28):02d}"

    async def create_delivery(
        self, clients: TenantClients, organisation: int, *, eligible: bool
    ) -> None:
        """A delivery with lines under ``organisation``, as a sales person enters it."""
        fields = self.config.documents.fields
        order_date = self._day(3)
        header: dict[str, Value] = {"order_date": order_date}
        body: dict[str, Any] = {
            "DeliveryOrganisationId": organisation,
            "DeliveryDescription": f"Leverans {self.deliveries + 1:05d}",
            "DeliveryOrderDate": f"{order_date}T00:00:00",
        }
        if fields.delivery_date and self.rng.random() < 0.5:
            header["delivery_date"] = self._day(4)
            body[fields.delivery_date] = header["delivery_date"]
        delivery = await clients.webcrm.create_delivery(body)
        lines = self._lines()
        for position, line in enumerate(lines):
            await clients.webcrm.create_quotation_line(
                self._quotation_line(delivery, position, line)
            )
        header = _held(self.config, header)
        self.documents[str(delivery)] = Document("webcrm", str(delivery), eligible, lines, header)

    def _quotation_line(self, delivery: int, position: int, line: Line) -> dict[str, Any]:
        article_data = self.config.articles.article_number_field.removeprefix("Data")
        return {
            "QuotationLineOpportunityId": delivery,
            "QuotationLineMemo": line.description,
            f"QuotationLineData{article_data}": line.article or "",
            "QuotationLineQuantity": float(line.quantity),
            "QuotationLinePrice": float(line.price),
            "QuotationLineVatPercentage": float(line.vat),
            "QuotationLineSortOrder": (position + 1) * 10,
        }

    async def create_fortnox_document(self, clients: TenantClients, customer: str) -> None:
        """An order (or, one in four, an invoice) with rows for ``customer``, made in Fortnox."""
        lines = self._lines()
        if self.config.delivery_target == "order" and self.rng.random() < 0.75:
            order_date = self._day(3)
            header: dict[str, Value] = {"order_date": order_date}
            body: dict[str, Any] = {"CustomerNumber": customer, "OrderDate": order_date}
            if self.rng.random() < 0.5:
                header["delivery_date"] = body["DeliveryDate"] = self._day(4)
            body["OrderRows"] = _rows(lines, "OrderedQuantity")
            order = await clients.fortnox.orders.create(Order.model_validate(body))
            id = record_id("order", str(order.document_number))
            self.documents[id] = Document("fortnox", id, True, lines, _held(self.config, header))
            return
        rows = _rows(lines, "DeliveredQuantity")
        invoice = await clients.fortnox.invoices.create(
            Invoice.model_validate({"CustomerNumber": customer, "InvoiceRows": rows})
        )
        id = record_id("invoice", str(invoice.document_number))
        self.documents[id] = Document("fortnox", id, True, lines)

    # --- editing -----------------------------------------------------------------------------

    async def edit(self, clients: TenantClients, count: int) -> None:
        """Edit ``count`` random eligible documents, each in the system it was made in."""
        eligible = sorted(d for d, document in self.documents.items() if document.eligible)
        for id in self.rng.sample(eligible, min(count, len(eligible))):
            self.edits += 1
            document = self.documents[id]
            what = self.rng.choice(("quantity", "line", "date"))
            if what == "date" and id.startswith("invoice:"):
                what = "quantity"  # an invoice's dates are Fortnox's own
            if what == "quantity" and document.lines:
                position = self.rng.randrange(len(document.lines))
                old = document.lines[position]
                document.lines[position] = Line(
                    old.article, old.description, str(int(old.quantity) + 1), old.price,
                    old.discount, old.vat,
                )  # fmt: skip
            elif what == "line" or not document.lines:
                document.lines.append(self._lines(1)[0])
            if document.system == "webcrm":
                await self._edit_delivery(clients, document, what)
            else:
                await self._edit_fortnox(clients, document, what)

    async def _edit_delivery(self, clients: TenantClients, document: Document, what: str) -> None:
        delivery = int(document.id)
        if what == "date":
            document.header["order_date"] = self._day(5)
            await clients.webcrm.update_delivery(
                delivery, {"DeliveryOrderDate": f"{document.header['order_date']}T00:00:00"}
            )
            return
        # The lines as they are now (the sync may have rewritten some), in webCRM's order.
        current = sorted(
            [line async for line in clients.webcrm.quotation_lines_of_delivery(delivery)],
            key=lambda line: (line.sort_order, line.id),
        )
        for position, line in enumerate(document.lines):
            body = self._quotation_line(delivery, position, line)
            if position < len(current):
                if current[position].quantity != float(line.quantity):
                    await clients.webcrm.update_quotation_line(
                        current[position].id, {"QuotationLineQuantity": float(line.quantity)}
                    )
            else:
                await clients.webcrm.create_quotation_line(body)

    async def _edit_fortnox(self, clients: TenantClients, document: Document, what: str) -> None:
        kind, _, number = document.id.partition(":")
        if kind == "order":
            changes: dict[str, Any] = {"OrderRows": _rows(document.lines, "OrderedQuantity")}
            if what == "date":
                document.header["delivery_date"] = changes["DeliveryDate"] = self._day(6)
                document.header = _held(self.config, document.header)
                changes.pop("OrderRows")
            await clients.fortnox.orders.update(number, Order.model_validate(changes))
            return
        rows = _rows(document.lines, "DeliveredQuantity")
        await clients.fortnox.invoices.update(number, Invoice.model_validate({"InvoiceRows": rows}))


def _rows(lines: list[Line], quantity: str) -> list[dict[str, Any]]:
    rows = []
    for line in lines:
        row: dict[str, Any] = {
            "Description": line.description,
            quantity: line.quantity,
            "Price": line.price,
            "VAT": line.vat,
        }
        if line.article:
            row["ArticleNumber"] = line.article
        rows.append(row)
    return rows


def _held(config: TenantConfig, header: dict[str, Value]) -> dict[str, Value]:
    """The header fields webCRM holds under this configuration."""
    held = config.documents.fields.mapping()
    return {name: value for name, value in header.items() if name in held}


# --- the checks ----------------------------------------------------------------------------------


@dataclass
class DocumentWorld:
    """Both systems' documents, as the sync sees them, and the state store's document links."""

    deliveries: dict[str, SourceRecord]
    fortnox: dict[str, SourceRecord]
    links: list[tuple[str, str]]
    article_links: list[tuple[str, str]]


async def read_documents(
    config: TenantConfig, clients: TenantClients, state: StateStore
) -> DocumentWorld:
    """Read every delivery and every Fortnox document in full, and every link."""
    articles = await state.links(ARTICLE)

    async def links() -> LinkIndex:
        return LinkIndex.of(await state.links(CUSTOMER), articles)

    sources = document_sources(config, links, clients.webcrm, clients.fortnox, now=clients.now)
    return DocumentWorld(
        deliveries={r.id: r async for r in sources["webcrm"].all()},
        fortnox={r.id: r async for r in sources["fortnox"].all()},
        links=[(link.webcrm_id, link.fortnox_id) for link in await state.links(ENTITY)],
        article_links=[(link.webcrm_id, link.fortnox_id) for link in articles],
    )


def document_duplicates(world: DocumentWorld, paperwork: Paperwork) -> list[str]:
    """Documents on a side more often than people made them: twice with one idempotency key,
    or made by no one (neither a person's nor made from a person's: a copy without its key)."""
    found: list[str] = []
    made = paperwork.documents
    for system, records in (("webCRM", world.deliveries), ("Fortnox", world.fortnox)):
        keys = Counter(r.key for r in records.values() if r.key)
        found += [f"{system} holds {n} documents with key {k}" for k, n in keys.items() if n > 1]
    for id, record in world.deliveries.items():
        if id not in made and (record.key not in made or made[record.key].system != "fortnox"):
            found.append(f"webCRM delivery {id} (key {record.key}) was made by no one")
    for id, record in world.fortnox.items():
        if id not in made and (record.key not in made or made[record.key].system != "webcrm"):
            found.append(f"Fortnox {id} (key {record.key}) was made by no one")
    return found


def document_problems(
    world: DocumentWorld, config: TenantConfig, paperwork: Paperwork
) -> list[str]:
    """Everything that breaks the promises for documents (and the articles lines name)."""
    found = document_duplicates(world, paperwork)
    made = paperwork.documents
    webcrm_links = Counter(w for w, _ in world.links)
    fortnox_links = Counter(f for _, f in world.links)
    found += [f"delivery {i} linked {n} times" for i, n in webcrm_links.items() if n > 1]
    found += [f"Fortnox {i} linked {n} times" for i, n in fortnox_links.items() if n > 1]
    partner = {w: f for w, f in world.links} | {f: w for w, f in world.links}
    for id, document in made.items():
        own = (world.deliveries if document.system == "webcrm" else world.fortnox).get(id)
        if own is None:
            found.append(f"{document.system} {id} made by a person is gone")
            continue
        links = (webcrm_links if document.system == "webcrm" else fortnox_links)[id]
        if not document.eligible:
            if links or own.eligible:
                found.append(f"delivery {id} does not sync but is linked or eligible")
            sent = [f for f, r in world.fortnox.items() if r.key == id]
            found += [f"delivery {id}, which does not sync, was sent as {f}" for f in sent]
            continue
        if links != 1:
            found.append(f"{document.system} {id} is linked {links} times")
            continue
        other_id = partner[id]
        other = (world.fortnox if document.system == "webcrm" else world.deliveries).get(other_id)
        if other is None:
            found.append(f"{id} is linked to {other_id}, which does not exist")
            continue
        if other.key != id:
            found.append(f"{id}'s partner {other_id} carries the key {other.key!r}")
        for name, value in document.expected().items():
            for system, record in ((document.system, own), ("partner", other)):
                if (record.fields.get(name) or None) != (value or None):
                    found.append(
                        f"{id} ({system} {record.id}).{name} = {_shown(name, record)}, "
                        f"what the person entered is {_shown(name, value)}"
                    )
    rules = document_spec(config).rules
    for webcrm_id, fortnox_id in world.links:
        delivery, document = world.deliveries.get(webcrm_id), world.fortnox.get(fortnox_id)
        if delivery is None or document is None:
            found.append(f"link {webcrm_id}/{fortnox_id} names a document that does not exist")
            continue
        for name in rules:
            mine, theirs = delivery.fields.get(name), document.fields.get(name)
            if (mine or None) != (theirs or None):
                found.append(f"{webcrm_id}/{fortnox_id}.{name}: {mine!r} ≠ {theirs!r}")
    articles = Counter(f for _, f in world.article_links)
    items = Counter(w for w, _ in world.article_links)
    for number in paperwork.articles:
        if articles[number] != 1:
            found.append(f"article {number} is linked {articles[number]} times")
    found += [f"item {i} linked {n} times" for i, n in items.items() if n > 1]
    return found


def _shown(name: str, value: Any) -> str:
    if isinstance(value, SourceRecord):
        value = value.fields.get(name)
    if name == "lines":
        return "; ".join(line.describe() for line in decode_lines(value)) or "(no lines)"
    return repr(value)
