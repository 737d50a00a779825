"""Orders (``/3/orders``) and invoices (``/3/invoices``): documents with rows and computed totals.

A new document needs an existing ``CustomerNumber`` (else 2000204) and copies the customer's name,
address and references (recorded: orders/save_with_nested_model.yml); terms of payment and a
currency sent must exist (reference §5.6). Rows name existing articles (else 2001302) and take
description, price (price list), VAT, unit and account from the article when not given; a row's
VAT must be one of the company's rates ("Kunde inte hämta/hitta moms", reference §8.5) and a row
with a quantity needs a description or an article (2003977, reference §6.2). ``Price`` and
quantities are rounded half-up to 2 decimals. The server computes every total: a row's ``Total``
is delivered quantity × price less discount (recorded rows with ``DeliveredQuantity`` "0" total
0), the header sums the rows, adds freight and fee and their VAT.
Totals are not rounded to whole kronor (``RoundOff`` stays 0).

Row updates follow the RowId rules (reference §5.4): without any ``RowId`` the rows sent replace the
stored ones position by position and all rows to keep must be sent; with ``RowId``\\s, rows with an
id update that row, rows without are new, and stored rows not sent are deleted. Every update gives
every row a new ``RowId``.

Actions: ``PUT /3/orders/{n}/createinvoice|cancel|externalprint`` and
``PUT /3/invoices/{n}/bookkeep|cancel|credit|externalprint``; ``GET /3/invoices/{n}/email``
marks the invoice sent. A booked invoice cannot be changed or cancelled: 400 with lowercase
ErrorInformation and the tenant's ``booked_invoice_code`` (reference §5.5: unconfirmed code).
Creating an invoice from an order takes each row's delivered quantity, or its ordered quantity when
nothing is marked delivered.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from webcrm_fortnox.fortnox.emulator import errors, fields, schema
from webcrm_fortnox.fortnox.emulator.api import Context, requires
from webcrm_fortnox.fortnox.emulator.collection import Collection, Series, crud_routes
from webcrm_fortnox.fortnox.emulator.prices import sales_price
from webcrm_fortnox.fortnox.emulator.query import ListRules
from webcrm_fortnox.fortnox.emulator.registers import check_references
from webcrm_fortnox.fortnox.emulator.schema import round_half_up
from webcrm_fortnox.fortnox.emulator.state import Tenant

Record = dict[str, Any]

DEFAULT_TERMS = "30"  # recorded: a customer without terms gets documents with "30"
DEFAULT_ACCOUNT = 3001  # recorded row AccountNumber
# Reference §8.5: the VAT rates a company has by default (a row's VAT must be one of them).
VAT_RATES = frozenset({25.0, 12.0, 6.0, 0.0})
FEE_VAT = 25.0  # Swedish standard rate on freight and administration fee
ROT = {
    "CONSTRUCTION",
    "ELECTRICITY",
    "GLASSMETALWORK",
    "GROUNDDRAINAGEWORK",
    "MASONRY",
    "PAINTINGWALLPAPERING",
    "HVAC",
}
RUT = {
    "MAJORAPPLIANCEREPAIR",
    "MOVINGSERVICES",
    "ITSERVICES",
    "CLEANING",
    "TEXTILECLOTHING",
    "SNOWPLOWING",
    "GARDENING",
    "BABYSITTING",
    "OTHERCARE",
}
GREEN = {"SOLARCELLS", "STORAGESELFPRODUCEDELECTRICITY", "CHARGINGSTATIONELECTRICVEHICLES"}
DISCONTINUED = {"COOKING", "TUTORING"}  # recorded: orders/housework_type_cooking.yml
REDUCTION_TYPES = {"rot": ROT, "rut": RUT, "green": GREEN}

# Header fields copied from the customer at creation, unless the request sets them.
_FROM_CUSTOMER = {
    "CustomerName": "Name",
    "Address1": "Address1",
    "Address2": "Address2",
    "City": "City",
    "ZipCode": "ZipCode",
    "Phone1": "Phone1",
    "Phone2": "Phone2",
    "OrganisationNumber": "OrganisationNumber",
    "Currency": "Currency",
    "PriceList": "PriceList",
    "YourReference": "YourReference",
    "OurReference": "OurReference",
    "TermsOfDelivery": "TermsOfDelivery",
    "WayOfDelivery": "WayOfDelivery",
    "CostCenter": "CostCenter",
    "Project": "Project",
    "DeliveryAddress1": "DeliveryAddress1",
    "DeliveryAddress2": "DeliveryAddress2",
    "DeliveryCity": "DeliveryCity",
    "DeliveryZipCode": "DeliveryZipCode",
    "DeliveryName": "DeliveryName",
}


@dataclass(frozen=True)
class Kind:
    """What differs between orders and invoices."""

    name: str  # "order" / "invoice"
    rows: str  # "OrderRows" / "InvoiceRows"
    row_spec: schema.Spec
    row_input: schema.Spec
    date_field: str  # "OrderDate" / "InvoiceDate"
    quantity: str  # "OrderedQuantity" / "DeliveredQuantity": what the row is for

    @property
    def row_fields(self) -> dict[str, schema.Field]:
        return schema.by_name(self.row_input)


ORDER = Kind(
    "order", "OrderRows", fields.ORDER_ROW, fields.ORDER_ROW_INPUT, "OrderDate", "OrderedQuantity"
)
INVOICE = Kind(
    "invoice",
    "InvoiceRows",
    fields.INVOICE_ROW,
    fields.INVOICE_ROW_INPUT,
    "InvoiceDate",
    "DeliveredQuantity",
)


def ocr(number: str) -> str:
    """Fortnox's OCR: the number, a length digit and a Luhn check digit ("1" → "133")."""
    body = number + str((len(number) + 2) % 10)
    total = 0
    for i, digit in enumerate(int(c) for c in reversed(body) if c.isdigit()):
        doubled = digit * 2 if i % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def refuse(message: str, code: int = errors.COMPLETED_DOCUMENT) -> errors.FortnoxError:
    return errors.FortnoxError(400, code, message)


# -- rows -------------------------------------------------------------------------------------


def _build_row(
    tenant: Tenant, kind: Kind, base: Record | None, given: Any, price_list: str
) -> Record:
    changes = schema.parse(kind.row_input, given, fields=kind.row_fields)
    changes.pop("RowId", None)
    row = copy.deepcopy(base) if base is not None else schema.defaults(kind.row_input)
    schema.merge(row, changes, kind.row_input)
    number = row.get("ArticleNumber")
    if number and (base is None or "ArticleNumber" in changes):
        article = tenant.table("articles").get(str(number))
        if article is None:
            raise errors.invalid(errors.ARTICLE_MISSING)
        listed = sales_price(tenant, str(number), price_list)
        filled = {
            "Description": article.get("Description") or "",
            "Price": listed if listed is not None else 0.0,
            "VAT": article.get("VAT"),
            "Unit": article.get("Unit") or "",
            "AccountNumber": article.get("SalesAccount"),
        }
        for name, value in filled.items():
            if name not in changes:
                row[name] = value
        row["Cost"] = article.get("PurchasePrice") or 0.0
    for name, fallback in (("Price", 0.0), ("VAT", 25.0), ("AccountNumber", DEFAULT_ACCOUNT)):
        if row.get(name) is None:
            row[name] = fallback
    for name in ("DeliveredQuantity", "OrderedQuantity", "ReservedQuantity"):
        if name in schema.by_name(kind.row_input) and row.get(name) is None:
            row[name] = 0.0
    if float(row["VAT"]) not in VAT_RATES:
        # reference §8.5: a row's VAT must be one of the company's rates
        raise errors.FortnoxError(400, errors.VAT_NOT_FOUND, errors.VAT_NOT_FOUND_MESSAGE)
    quantity = row.get(kind.quantity) or 0.0
    if float(quantity) > 0 and not row.get("Description") and not row.get("ArticleNumber"):
        # reference §6.2, 2003977: a row with a quantity needs a description or an article
        raise errors.invalid(errors.ROW_WITHOUT_TEXT)
    return row


def _merge_rows(
    tenant: Tenant, kind: Kind, old: list[Record], given: list[Any], plist: str
) -> list[Record]:
    if any(isinstance(g, dict) and g.get("RowId") not in (None, "") for g in given):
        by_id = {str(r.get("RowId")): r for r in old}
        rows = []
        for g in given:
            row_id = g.get("RowId") if isinstance(g, dict) else None
            if row_id in (None, ""):
                rows.append(_build_row(tenant, kind, None, g, plist))
            elif str(row_id) in by_id:
                rows.append(_build_row(tenant, kind, by_id[str(row_id)], g, plist))
            else:
                raise errors.invalid(errors.INVALID_IDENTIFIER)
        return rows
    return [
        _build_row(tenant, kind, old[i] if i < len(old) else None, g, plist)
        for i, g in enumerate(given)
    ]


def _check_housework(record: Record, rows: list[Record]) -> None:
    reduction = str(record.get("TaxReductionType") or "none")
    for row in rows:
        work = row.get("HouseWorkType")
        if work in DISCONTINUED:
            raise errors.invalid(errors.HOUSEWORK_DISCONTINUED)
        if not row.get("HouseWork") or work is None:
            continue
        if work == "OTHERCOSTS":
            raise errors.invalid(errors.HOUSEWORK_OTHERCOSTS)
        allowed = REDUCTION_TYPES.get(reduction)
        if allowed is not None and work not in allowed:
            raise errors.invalid(errors.HOUSEWORK_WRONG_REDUCTION, value=reduction, detail=work)


def compute_totals(record: Record, rows: list[Record]) -> None:
    """Fill every server-computed amount of a document and its rows."""
    vat_included = bool(record.get("VATIncluded"))
    net = vat = contribution = 0.0
    for row in rows:
        quantity = float(row.get("DeliveredQuantity") or 0.0)
        price = float(row.get("Price") or 0.0)
        rate = float(row.get("VAT") or 0.0)
        amount = quantity * price
        discount = float(row.get("Discount") or 0.0)
        amount = (
            amount - discount
            if row.get("DiscountType") == "AMOUNT"
            else amount * (1 - discount / 100)
        )
        total = round_half_up(amount)
        divisor = 1 + rate / 100 if vat_included else 1.0
        excluding = round_half_up(total / divisor)
        row["Total"] = total
        row["TotalExcludingVAT"] = excluding
        row["PriceExcludingVAT"] = round_half_up(price / divisor)
        value = round_half_up(excluding - float(row.get("Cost") or 0.0) * quantity)
        row["ContributionValue"] = value
        row["ContributionPercent"] = round_half_up(value / excluding * 100) if excluding else 0.0
        net += excluding
        vat += excluding * rate / 100
        contribution += value
    freight = float(record.get("Freight") or 0.0)
    fee = float(record.get("AdministrationFee") or 0.0)
    record["FreightVAT"] = round_half_up(freight * FEE_VAT / 100)
    record["AdministrationFeeVAT"] = round_half_up(fee * FEE_VAT / 100)
    record["Net"] = round_half_up(net)
    record["Gross"] = round_half_up(net + freight + fee)
    record["TotalVAT"] = round_half_up(vat + record["FreightVAT"] + record["AdministrationFeeVAT"])
    record["Total"] = round_half_up(record["Gross"] + record["TotalVAT"])
    record["TotalToPay"] = record["Total"]
    record["RoundOff"] = 0.0
    record["ContributionValue"] = round_half_up(contribution)
    record["ContributionPercent"] = round_half_up(contribution / net * 100) if net else 0.0
    record["HouseWork"] = any(bool(r.get("HouseWork")) for r in rows)
    if not record.get("Booked") and not record.get("Cancelled"):
        record["Balance"] = record["Total"]


def _terms_days(code: str) -> int:
    return int(code) if code.isdigit() else 0


def _prepare(kind: Kind) -> Callable[[Tenant, Record, dict[str, Any], bool], None]:
    def prepare(tenant: Tenant, record: Record, changes: dict[str, Any], new: bool) -> None:
        if not new:
            _check_changeable(tenant, kind, record, "ändras")
        number = record.get("CustomerNumber")
        if new or "CustomerNumber" in changes:
            customer = tenant.table("customers").get(str(number)) if number else None
            if customer is None:
                raise errors.invalid(errors.CUSTOMER_MISSING)
            for target, source in _FROM_CUSTOMER.items():
                if target not in changes and customer.get(source) is not None:
                    record[target] = customer[source]
            if "TermsOfPayment" not in changes:
                record["TermsOfPayment"] = customer.get("TermsOfPayment") or DEFAULT_TERMS
            email = customer.get("EmailInvoice" if kind is INVOICE else "EmailOrder")
            record["EmailInformation"]["EmailAddressTo"] = email or customer.get("Email") or ""
        check_references(tenant, record, changes)
        if new:
            _new_document_fields(tenant, kind, record, changes)
        price_list = str(record.get("PriceList") or "A")
        rows: list[Record] = record.get(kind.rows) or []
        if kind.rows in changes:
            rows = _merge_rows(tenant, kind, rows, changes[kind.rows], price_list)
        _check_housework(record, rows)
        for row in rows:
            row["RowId"] = tenant.next_number("rowid")
        record[kind.rows] = rows
        compute_totals(record, rows)

    return prepare


def _new_document_fields(
    tenant: Tenant, kind: Kind, record: Record, changes: dict[str, Any]
) -> None:
    table = tenant.table(kind.name + "s")
    if "DocumentNumber" in changes and str(changes["DocumentNumber"]) in table:
        raise errors.invalid(errors.INVALID_IDENTIFIER)
    today = tenant.today()
    day = date.fromisoformat(record.get(kind.date_field) or today.isoformat())
    record[kind.date_field] = day.isoformat()
    if not record.get("OutboundDate"):
        record["OutboundDate"] = day.isoformat()
    if kind is INVOICE:
        if not record.get("DueDate"):
            due = day + timedelta(days=_terms_days(str(record["TermsOfPayment"])))
            record["DueDate"] = due.isoformat()
        if not record.get("OCR"):
            record["OCR"] = ocr(str(record["DocumentNumber"]))


def _check_changeable(tenant: Tenant, kind: Kind, record: Record, verb: str) -> None:
    number = record["DocumentNumber"]
    label = "Faktura" if kind is INVOICE else "Order"
    if record.get("Booked"):
        raise refuse(
            f"{label} {number} är bokförd och kan inte {verb}.", tenant.booked_invoice_code
        )
    if record.get("Cancelled"):
        raise refuse(f"{label} {number} är makulerad och kan inte {verb}.")


# -- collections ------------------------------------------------------------------------------


class Documents(Collection):
    """Orders or invoices: the generic collection plus actions announced as their own events."""

    kind: Kind = ORDER

    def render(self, ctx: Context, record: Record) -> Record:
        number = str(record[self.key])
        urls = {
            "@url": ctx.url(self.name, number),
            "@urlTaxReductionList": ctx.url("taxreductions")
            + f"?filter={self.name}&referencenumber={number}",
        }
        return schema.render(self.spec, {**record, **urls})

    def event(self, tenant: Tenant, record: Record, event_type: str) -> None:
        """Store a change made by an action and announce it under its own event type."""
        super().store(tenant, record, None)
        tenant.publish(self.name, event_type, str(record["DocumentNumber"]))


def _document_rules(kind: Kind) -> ListRules:
    common_search = {
        "customername": "CustomerName",
        "customernumber": "CustomerNumber",
        "documentnumber": "DocumentNumber",
        "externalinvoicereference1": "ExternalInvoiceReference1",
        "externalinvoicereference2": "ExternalInvoiceReference2",
        "costcenter": "CostCenter",
        "project": "Project",
        "ourreference": "OurReference",
        "yourreference": "YourReference",
    }
    exact = {"sent": "Sent", "notcompleted": "NotCompleted"}
    ranges = {"fromdate": (kind.date_field, "from"), "todate": (kind.date_field, "to")}
    sort = {
        "customername": "CustomerName",
        "customernumber": "CustomerNumber",
        "documentnumber": "DocumentNumber",
        "total": "Total",
    }
    if kind is ORDER:
        return ListRules(
            search=common_search,
            exact={**exact, "ordertype": "OrderType"},
            ranges=ranges,
            sort={**sort, "orderdate": "OrderDate"},
            default_sort="DocumentNumber",
            filters={
                "cancelled": lambda r, today: bool(r.get("Cancelled")),
                "expired": lambda r, today: (
                    not r.get("Cancelled")
                    and r.get("InvoiceReference") == "0"
                    and bool(r.get("DeliveryDate"))
                    and str(r.get("DeliveryDate")) < today
                ),
                "invoicecreated": lambda r, today: r.get("InvoiceReference") not in (None, "0"),
                "invoicenotcreated": lambda r, today: (
                    not r.get("Cancelled") and r.get("InvoiceReference") in (None, "0")
                ),
            },
        )
    return ListRules(
        search={
            **common_search,
            "ocr": "OCR",
            "yourordernumber": "YourOrderNumber",
            "currency": "Currency",
        },
        exact={**exact, "invoicetype": "InvoiceType", "credit": "Credit"},
        ranges={
            **ranges,
            "fromfinalpaydate": ("FinalPayDate", "from"),
            "tofinalpaydate": ("FinalPayDate", "to"),
        },
        sort={**sort, "invoicedate": "InvoiceDate", "ocr": "OCR"},
        default_sort="DocumentNumber",
        filters={
            "cancelled": lambda r, today: bool(r.get("Cancelled")),
            "fullypaid": lambda r, today: (
                bool(r.get("Booked")) and not r.get("Cancelled") and not r.get("Balance")
            ),
            "unpaid": lambda r, today: (
                bool(r.get("Booked")) and not r.get("Cancelled") and bool(r.get("Balance"))
            ),
            "unpaidoverdue": lambda r, today: (
                bool(r.get("Booked"))
                and not r.get("Cancelled")
                and bool(r.get("Balance"))
                and str(r.get("DueDate") or "9999") < today
            ),
            "unbooked": lambda r, today: not r.get("Booked") and not r.get("Cancelled"),
        },
    )


def _documents(
    kind: Kind, single: str, spec: schema.Spec, item: schema.Spec, code: int
) -> Documents:
    documents = Documents(
        name=kind.name + "s",
        single=single,
        plural=single + "s",
        spec=spec,
        item_spec=item,
        key="DocumentNumber",
        not_found=code,
        scope=kind.name,
        rules=_document_rules(kind),
        location=kind.name + "s",
        topic=kind.name + "s",
        event_names=(f"{kind.name}-created-v1", f"{kind.name}-updated-v1", ""),
        series=Series(kind.name, (kind.name + "s",)),
        prepare=_prepare(kind),
        deletable=False,  # reference §8.18: cancel or credit instead
    )
    documents.kind = kind
    return documents


ORDERS = _documents(ORDER, "Order", fields.ORDER, fields.ORDER_ITEM, errors.ORDER_NOT_FOUND)
INVOICES = _documents(
    INVOICE, "Invoice", fields.INVOICE, fields.INVOICE_ITEM, errors.INVOICE_NOT_FOUND
)


def _payload(record: Record, source: Kind, target: Kind, spec: schema.Spec) -> Record:
    """The writable fields of a stored document, as a create request for another document."""
    writable = {f.name for f in spec if not f.ro and f.kind != "list"} - {
        "DocumentNumber",
        "EmailInformation",
        "OrderDate",
        "InvoiceDate",
        "DueDate",
        "OutboundDate",
        "OCR",
    }
    payload = {k: v for k, v in record.items() if k in writable and v is not None}
    row_fields = {f.name for f in target.row_input if not f.ro} - {"RowId"}
    payload[target.rows] = [
        {k: v for k, v in row.items() if k in row_fields and v is not None}
        for row in record.get(source.rows) or []
    ]
    return payload


# -- actions ----------------------------------------------------------------------------------


def create_invoice(tenant: Tenant, order: Record) -> Record:
    """``createinvoice``: an invoice from an order, the two linked both ways."""
    if order.get("Cancelled"):
        raise refuse(f"Order {order['DocumentNumber']} är makulerad.")
    if order.get("InvoiceReference") not in (None, "0"):
        raise refuse(f"Order {order['DocumentNumber']} är redan fakturerad.")
    payload = _payload(order, ORDER, INVOICE, fields.INVOICE)
    delivered_any = any(float(r.get("DeliveredQuantity") or 0) for r in order[ORDER.rows])
    for row, source in zip(payload[INVOICE.rows], order[ORDER.rows], strict=True):
        row.pop("OrderedQuantity", None)
        row["DeliveredQuantity"] = (
            source.get("DeliveredQuantity") if delivered_any else source.get("OrderedQuantity")
        ) or 0.0
    invoice = INVOICES.create(tenant, payload)
    invoice["OrderReference"] = str(order["DocumentNumber"])
    INVOICES.store(tenant, invoice, None)
    order = {**order, "InvoiceReference": str(invoice["DocumentNumber"])}
    ORDERS.event(tenant, order, "order-updated-v1")
    return invoice


def credit(tenant: Tenant, invoice: Record) -> Record:
    """``credit``: a credit invoice of the whole invoice, referenced from the original."""
    number = invoice["DocumentNumber"]
    if invoice.get("Cancelled"):
        raise refuse(f"Faktura {number} är makulerad och kan inte krediteras.")
    if invoice.get("CreditInvoiceReference") not in (None, "0") or invoice.get("Credit"):
        raise refuse(f"Faktura {number} är redan krediterad.")
    payload = _payload(invoice, INVOICE, INVOICE, fields.INVOICE)
    for row in payload[INVOICE.rows]:
        row["DeliveredQuantity"] = -float(row.get("DeliveredQuantity") or 0.0)
    payload["Freight"] = -float(payload.get("Freight") or 0.0)
    payload["AdministrationFee"] = -float(payload.get("AdministrationFee") or 0.0)
    note = invoice.get("YourOrderNumber") or ""
    payload["YourOrderNumber"] = note
    credit_invoice = INVOICES.create(tenant, payload)
    credit_invoice["Credit"] = True
    credit_invoice["CreditInvoiceReference"] = str(number)
    INVOICES.store(tenant, credit_invoice, None)
    original = {**invoice, "CreditInvoiceReference": str(credit_invoice["DocumentNumber"])}
    INVOICES.event(tenant, original, "invoice-updated-v1")
    return original


def bookkeep(tenant: Tenant, invoice: Record) -> Record:
    """``bookkeep``: the invoice gets a voucher and can no longer be changed or cancelled."""
    if invoice.get("Cancelled"):
        raise refuse(f"Faktura {invoice['DocumentNumber']} är makulerad och kan inte bokföras.")
    if invoice.get("Booked"):
        return invoice
    booked = {
        **invoice,
        "Booked": True,
        "VoucherSeries": "B",
        "VoucherNumber": tenant.next_number("voucher:B"),
        "VoucherYear": 1,
        "Balance": invoice.get("Total") or 0.0,
    }
    if not booked["Balance"]:
        booked["FinalPayDate"] = tenant.today().isoformat()
    INVOICES.event(tenant, booked, "invoice-bookkeep-v1")
    return booked


def cancel(tenant: Tenant, documents: Documents, record: Record) -> Record:
    """``cancel``: refused for booked invoices and for orders already invoiced."""
    _check_changeable(tenant, documents.kind, record, "makuleras")
    if documents.kind is ORDER and record.get("InvoiceReference") not in (None, "0"):
        raise refuse(f"Order {record['DocumentNumber']} är fakturerad och kan inte makuleras.")
    cancelled = {**record, "Cancelled": True, "Balance": 0.0}
    documents.event(tenant, cancelled, f"{documents.kind.name}-cancelled-v1")
    return cancelled


def mark_sent(tenant: Tenant, documents: Documents, record: Record) -> Record:
    """``externalprint`` (and e-mail): marked as sent without producing a document."""
    sent = {**record, "Sent": True}
    documents.event(tenant, sent, f"{documents.kind.name}-updated-v1")
    return sent


def routes(router: APIRouter) -> None:
    """Add the document endpoints and their actions."""
    for documents in (ORDERS, INVOICES):
        crud_routes(router, documents)

    orders_auth = Depends(requires("order"))
    invoices_auth = Depends(requires("invoice"))

    @router.put("/orders/{key}/createinvoice", name="createinvoice orders")
    async def order_to_invoice(key: str, ctx: Context = orders_auth) -> Response:
        invoice = create_invoice(ctx.tenant, ORDERS.find(ctx.tenant, key))
        return INVOICES.one(ctx, invoice)

    @router.put("/orders/{key}/cancel", name="cancel orders")
    async def cancel_order(key: str, ctx: Context = orders_auth) -> Response:
        return ORDERS.one(ctx, cancel(ctx.tenant, ORDERS, ORDERS.find(ctx.tenant, key)))

    @router.put("/orders/{key}/externalprint", name="externalprint orders")
    async def print_order(key: str, ctx: Context = orders_auth) -> Response:
        return ORDERS.one(ctx, mark_sent(ctx.tenant, ORDERS, ORDERS.find(ctx.tenant, key)))

    @router.put("/invoices/{key}/bookkeep", name="bookkeep invoices")
    async def bookkeep_invoice(key: str, ctx: Context = invoices_auth) -> Response:
        return INVOICES.one(ctx, bookkeep(ctx.tenant, INVOICES.find(ctx.tenant, key)))

    @router.put("/invoices/{key}/cancel", name="cancel invoices")
    async def cancel_invoice(key: str, ctx: Context = invoices_auth) -> Response:
        return INVOICES.one(ctx, cancel(ctx.tenant, INVOICES, INVOICES.find(ctx.tenant, key)))

    @router.put("/invoices/{key}/credit", name="credit invoices")
    async def credit_invoice(key: str, ctx: Context = invoices_auth) -> Response:
        return INVOICES.one(ctx, credit(ctx.tenant, INVOICES.find(ctx.tenant, key)))

    @router.put("/invoices/{key}/externalprint", name="externalprint invoices")
    async def print_invoice(key: str, ctx: Context = invoices_auth) -> Response:
        return INVOICES.one(ctx, mark_sent(ctx.tenant, INVOICES, INVOICES.find(ctx.tenant, key)))

    @router.get("/invoices/{key}/email", name="email invoices")
    async def email_invoice(key: str, ctx: Context = invoices_auth) -> Response:
        return INVOICES.one(ctx, mark_sent(ctx.tenant, INVOICES, INVOICES.find(ctx.tenant, key)))
