"""Typed Fortnox records: what the API returns, and what may be sent back.

Reading is tolerant on purpose. Every model keeps fields it does not know (``extra="allow"``), so
a new Fortnox field never breaks a sync; numbers that Fortnox returns as strings (``"PurchasePrice":
"0"``, ``"CurrencyRate":"1"``, ``"DeliveredQuantity":"0"``; reference §8.1) become
:class:`~decimal.Decimal`; ``"Credit":"false"`` becomes a bool; and document references where
``"0"`` means none (``OrderReference``, ``InvoiceReference``, …; §8.2) become ``None``.

Attributes are snake_case; the Fortnox names (``CustomerNumber``, ``VATNumber``, ``@url``) are
their aliases, and either may be used to build a model.

Writing goes through :meth:`FortnoxModel.to_payload`, which sends only the fields that were set,
never a read-only one (``Total``, ``Booked``, ``Country``, …), and turns ``None`` or ``""`` on a
text field into ``"API_BLANK"``: Fortnox ignores an empty string, and only that literal clears a
value (§2, §8.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.fields import FieldInfo

#: The literal that clears a field in Fortnox; an empty string would be ignored.
BLANK = "API_BLANK"

# Word → spelling inside Fortnox field names (VATNumber, EmailInvoiceBCC, OCR, EUVATAccount…).
_ACRONYMS = {
    "bcc": "BCC",
    "cc": "CC",
    "ean": "EAN",
    "edi": "EDI",
    "eu": "EU",
    "gln": "GLN",
    "ocr": "OCR",
    "vat": "VAT",
    "www": "WWW",
}


def fortnox_name(name: str) -> str:
    """The Fortnox spelling of a snake_case attribute: ``vat_number`` → ``VATNumber``."""
    return "".join(_ACRONYMS.get(part, part[:1].upper() + part[1:]) for part in name.split("_"))


class _ReadOnly:
    """Marks a field Fortnox computes or ignores on input; never sent in a payload."""

    def __repr__(self) -> str:
        return "READ_ONLY"


READ_ONLY = _ReadOnly()


def _to_str(value: Any) -> Any:
    # Identifiers and account codes come back as numbers in some places (SalesAccount 3001).
    return str(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else value


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def _reference(value: Any) -> Any:
    # recorded: invoices/save_with_nested_model.yml: "OrderReference":"0", "ContractReference":0.
    if value is None or value == "" or str(value) == "0":
        return None
    return _to_str(value)


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


Text = Annotated[str, BeforeValidator(_to_str)]
# Both may be absent; Fortnox sends "" for some empty dates (InvoicePeriodStart) and numbers.
Number = Annotated[
    Decimal | None,
    BeforeValidator(_blank_to_none),
    PlainSerializer(_json_number, when_used="json-unless-none"),
]
Day = Annotated[date | None, BeforeValidator(_blank_to_none)]
Reference = Annotated[str | None, BeforeValidator(_reference)]


def _is_read_only(info: FieldInfo) -> bool:
    return any(meta is READ_ONLY for meta in info.metadata)


def _is_text(info: FieldInfo) -> bool:
    return info.annotation in (str, str | None)


class FortnoxModel(BaseModel):
    """Base of every Fortnox record."""

    model_config = ConfigDict(
        extra="allow",
        alias_generator=fortnox_name,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    url: Annotated[str | None, READ_ONLY] = Field(None, alias="@url")

    #: The key of one record in a request or response body (``{"Customer": {…}}``).
    envelope: ClassVar[str] = ""

    def to_payload(self) -> dict[str, Any]:
        """The JSON body content for a create or partial update.

        Only fields that were set are sent (so ``Customer(name="X")`` changes the name alone);
        read-only fields and unknown extra fields never are; ``None`` or ``""`` on a text field
        becomes ``"API_BLANK"``, which clears it. ``None`` on a number, date or flag is left out,
        since Fortnox has no way to clear those.
        """
        fields = type(self).model_fields
        payload: dict[str, Any] = {}
        for name, info in fields.items():
            if name not in self.model_fields_set or _is_read_only(info):
                continue
            value = getattr(self, name)
            if _is_text(info) and value in (None, ""):
                payload[info.alias or name] = BLANK
            elif value is not None:
                payload[info.alias or name] = _payload_value(value)
        return payload

    def wrapped(self) -> dict[str, Any]:
        """The payload in its envelope, e.g. ``{"Customer": {...}}``."""
        return {self.envelope: self.to_payload()}


def _payload_value(value: Any) -> Any:
    if isinstance(value, FortnoxModel):
        return value.to_payload()
    if isinstance(value, list):
        return [_payload_value(item) for item in value]
    if isinstance(value, Decimal):
        return _json_number(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- customers -------------------------------------------------------------------------------


class CustomerListItem(FortnoxModel):
    """A customer as ``GET /3/customers`` lists it: ten fields, note ``Phone`` (not Phone1)."""

    envelope: ClassVar[str] = "Customer"

    customer_number: Text | None = None
    name: str | None = None
    organisation_number: str | None = None
    email: str | None = None
    phone: str | None = None
    address1: str | None = None
    address2: str | None = None
    zip_code: str | None = None
    city: str | None = None


class Customer(FortnoxModel):
    """A customer (``/3/customers/{CustomerNumber}``)."""

    envelope: ClassVar[str] = "Customer"

    customer_number: Text | None = None
    name: str | None = None
    active: bool | None = None
    type: str | None = None
    organisation_number: str | None = None
    vat_number: str | None = None
    vat_type: str | None = None
    address1: str | None = None
    address2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country_code: str | None = None
    country: Annotated[str | None, READ_ONLY] = None
    delivery_name: str | None = None
    delivery_address1: str | None = None
    delivery_address2: str | None = None
    delivery_zip_code: str | None = None
    delivery_city: str | None = None
    delivery_country_code: str | None = None
    delivery_country: Annotated[str | None, READ_ONLY] = None
    delivery_phone1: str | None = None
    delivery_phone2: str | None = None
    delivery_fax: str | None = None
    visiting_address: str | None = None
    visiting_zip_code: str | None = None
    visiting_city: str | None = None
    visiting_country_code: str | None = None
    visiting_country: Annotated[str | None, READ_ONLY] = None
    phone1: str | None = None
    phone2: str | None = None
    fax: str | None = None
    email: str | None = None
    email_invoice: str | None = None
    email_invoice_cc: str | None = None
    email_invoice_bcc: str | None = None
    email_order: str | None = None
    email_order_cc: str | None = None
    email_order_bcc: str | None = None
    email_offer: str | None = None
    email_offer_cc: str | None = None
    email_offer_bcc: str | None = None
    www: str | None = None
    comments: str | None = None
    currency: str | None = None
    terms_of_payment: str | None = None
    terms_of_delivery: str | None = None
    way_of_delivery: str | None = None
    price_list: str | None = None
    project: str | None = None
    cost_center: str | None = None
    sales_account: Text | None = None
    our_reference: str | None = None
    your_reference: str | None = None
    external_reference: str | None = None
    invoice_remark: str | None = None
    invoice_discount: Number = None
    invoice_administration_fee: Number = None
    invoice_freight: Number = None
    show_price_vat_included: bool | None = None
    gln: str | None = None
    gln_delivery: str | None = None
    default_delivery_types: dict[str, Any] | None = None
    default_templates: dict[str, Any] | None = None


# --- articles and prices ---------------------------------------------------------------------


class ArticleListItem(FortnoxModel):
    """An article as ``GET /3/articles`` lists it (quantities and prices as strings there)."""

    envelope: ClassVar[str] = "Article"

    article_number: Text | None = None
    description: str | None = None
    ean: str | None = None
    unit: str | None = None
    vat: Number = None
    purchase_price: Number = None
    sales_price: Number = None
    quantity_in_stock: Number = None
    reserved_quantity: Number = None
    disposable_quantity: Number = None
    stock_value: Number = None
    stock_place: str | None = None
    housework: bool | None = None
    webshop_article: bool | None = None


class Article(FortnoxModel):
    """An article (``/3/articles/{ArticleNumber}``). ``SalesPrice`` is read-only: list prices
    live in ``/3/prices`` (see :class:`Price`)."""

    envelope: ClassVar[str] = "Article"

    article_number: Text | None = None
    description: str | None = None
    active: bool | None = None
    type: str | None = None
    unit: str | None = None
    ean: str | None = None
    note: str | None = None
    manufacturer: str | None = None
    manufacturer_article_number: str | None = None
    supplier_number: Text | None = None
    supplier_name: Annotated[str | None, READ_ONLY] = None
    purchase_price: Number = None
    sales_price: Annotated[Number, READ_ONLY] = None
    vat: Number = None
    sales_account: int | None = None
    purchase_account: int | None = None
    eu_account: int | None = None
    eu_vat_account: int | None = None
    export_account: int | None = None
    construction_account: int | None = None
    stock_goods: bool | None = None
    quantity_in_stock: Number = None
    reserved_quantity: Annotated[Number, READ_ONLY] = None
    disposable_quantity: Annotated[Number, READ_ONLY] = None
    stock_value: Annotated[Number, READ_ONLY] = None
    stock_place: str | None = None
    stock_warning: Number = None
    bulky: bool | None = None
    expired: bool | None = None
    webshop_article: bool | None = None
    housework: bool | None = None
    housework_type: str | None = None
    height: int | None = None
    width: int | None = None
    depth: int | None = None
    weight: int | None = None


class PriceList(FortnoxModel):
    """A price list (``/3/pricelists/{Code}``); ``"A"`` is the usual default."""

    envelope: ClassVar[str] = "PriceList"

    code: str | None = None
    description: str | None = None
    comments: str | None = None
    pre_selected: bool | None = None


class Price(FortnoxModel):
    """One price of an article in a price list from a quantity on."""

    envelope: ClassVar[str] = "Price"

    article_number: Text | None = None
    price_list: str | None = None
    from_quantity: Number = None
    price: Number = None
    percent: Number = None
    date: Annotated[Day, READ_ONLY] = None


# --- documents -------------------------------------------------------------------------------


class DocumentRow(FortnoxModel):
    """What order and invoice rows share. ``RowId`` changes on every update (reference §5.4)."""

    row_id: int | None = None
    article_number: Text | None = None
    description: str | None = None
    delivered_quantity: Number = None
    price: Number = None
    discount: Number = None
    discount_type: str | None = None
    vat: Number = None
    vat_code: str | None = None
    unit: str | None = None
    account_number: int | None = None
    cost_center: str | None = None
    project: str | None = None
    house_work: bool | None = None
    house_work_type: str | None = None
    house_work_hours_to_report: int | None = None
    stock_point_code: str | None = None
    cost: Annotated[Number, READ_ONLY] = None
    total: Annotated[Number, READ_ONLY] = None
    contribution_percent: Annotated[Number, READ_ONLY] = None
    contribution_value: Annotated[Number, READ_ONLY] = None


class OrderRow(DocumentRow):
    """A row of an order."""

    ordered_quantity: Number = None
    reserved_quantity: Number = None
    stock_point_id: str | None = None


class InvoiceRow(DocumentRow):
    """A row of an invoice."""

    price_excluding_vat: Annotated[Number, READ_ONLY] = None
    total_excluding_vat: Annotated[Number, READ_ONLY] = None


class Document(FortnoxModel):
    """What orders and invoices share. Totals are always computed by Fortnox."""

    url_tax_reduction_list: Annotated[str | None, READ_ONLY] = Field(
        None, alias="@urlTaxReductionList"
    )
    document_number: Text | None = None
    customer_number: Text | None = None
    customer_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country: str | None = None
    phone1: str | None = None
    phone2: str | None = None
    delivery_name: str | None = None
    delivery_address1: str | None = None
    delivery_address2: str | None = None
    delivery_zip_code: str | None = None
    delivery_city: str | None = None
    delivery_country: str | None = None
    delivery_date: Day = None
    comments: str | None = None
    remarks: str | None = None
    currency: str | None = None
    currency_rate: Number = None
    currency_unit: Number = None
    price_list: str | None = None
    project: str | None = None
    cost_center: str | None = None
    terms_of_payment: str | None = None
    terms_of_delivery: str | None = None
    way_of_delivery: str | None = None
    our_reference: str | None = None
    your_reference: str | None = None
    your_order_number: str | None = None
    external_invoice_reference1: str | None = None
    external_invoice_reference2: str | None = None
    language: str | None = None
    print_template: str | None = None
    vat_included: bool | None = None
    not_completed: bool | None = None
    freight: Number = None
    administration_fee: Number = None
    tax_reduction_type: str | None = None
    time_basis_reference: Any = None
    outbound_date: Day = None
    warehouse_ready: bool | None = None
    email_information: dict[str, Any] | None = None
    labels: list[dict[str, Any]] | None = None
    organisation_number: Annotated[str | None, READ_ONLY] = None
    cancelled: Annotated[bool | None, READ_ONLY] = None
    sent: Annotated[bool | None, READ_ONLY] = None
    offer_reference: Annotated[Reference, READ_ONLY] = None
    total: Annotated[Number, READ_ONLY] = None
    total_vat: Annotated[Number, READ_ONLY] = None
    total_to_pay: Annotated[Number, READ_ONLY] = None
    net: Annotated[Number, READ_ONLY] = None
    gross: Annotated[Number, READ_ONLY] = None
    round_off: Annotated[Number, READ_ONLY] = None
    freight_vat: Annotated[Number, READ_ONLY] = None
    administration_fee_vat: Annotated[Number, READ_ONLY] = None
    contribution_percent: Annotated[Number, READ_ONLY] = None
    contribution_value: Annotated[Number, READ_ONLY] = None
    basis_tax_reduction: Annotated[Number, READ_ONLY] = None
    tax_reduction: Annotated[Number, READ_ONLY] = None
    house_work: Annotated[bool | None, READ_ONLY] = None


class Order(Document):
    """An order (``/3/orders/{DocumentNumber}``). ``InvoiceReference`` is set by
    ``createinvoice``."""

    envelope: ClassVar[str] = "Order"

    order_date: Day = None
    delivery_state: str | None = None
    copy_remarks: bool | None = None
    stock_point_code: str | None = None
    stock_point_id: str | None = None
    order_rows: list[OrderRow] | None = None
    order_type: Annotated[str | None, READ_ONLY] = None
    invoice_reference: Annotated[Reference, READ_ONLY] = None


class Invoice(Document):
    """An invoice (``/3/invoices/{DocumentNumber}``). Once ``Booked`` it cannot change."""

    envelope: ClassVar[str] = "Invoice"

    invoice_date: Day = None
    due_date: Day = None
    invoice_type: str | None = None
    ocr: str | None = None
    payment_way: str | None = None
    edi_information: dict[str, Any] | None = None
    eu_quarterly_report: bool | None = None
    invoice_rows: list[InvoiceRow] | None = None
    booked: Annotated[bool | None, READ_ONLY] = None
    credit: Annotated[bool | None, READ_ONLY] = None
    balance: Annotated[Number, READ_ONLY] = None
    final_pay_date: Annotated[Day, READ_ONLY] = None
    last_remind_date: Annotated[Day, READ_ONLY] = None
    reminders: Annotated[int | None, READ_ONLY] = None
    accounting_method: Annotated[str | None, READ_ONLY] = None
    nox_finans: Annotated[bool | None, READ_ONLY] = None
    invoice_period_start: Annotated[Day, READ_ONLY] = None
    invoice_period_end: Annotated[Day, READ_ONLY] = None
    order_reference: Annotated[Reference, READ_ONLY] = None
    invoice_reference: Annotated[Reference, READ_ONLY] = None
    credit_invoice_reference: Annotated[Reference, READ_ONLY] = None
    contract_reference: Annotated[Reference, READ_ONLY] = None
    voucher_number: Annotated[int | None, READ_ONLY] = None
    voucher_series: Annotated[str | None, READ_ONLY] = None
    voucher_year: Annotated[int | None, READ_ONLY] = None


class OrderListItem(FortnoxModel):
    """An order as ``GET /3/orders`` lists it."""

    envelope: ClassVar[str] = "Order"

    document_number: Text | None = None
    customer_number: Text | None = None
    customer_name: str | None = None
    order_date: Day = None
    delivery_date: Day = None
    order_type: str | None = None
    currency: str | None = None
    project: str | None = None
    external_invoice_reference1: str | None = None
    external_invoice_reference2: str | None = None
    cancelled: bool | None = None
    sent: bool | None = None
    total: Number = None


class InvoiceListItem(FortnoxModel):
    """An invoice as ``GET /3/invoices`` lists it (``CurrencyRate`` is a string there)."""

    envelope: ClassVar[str] = "Invoice"

    document_number: Text | None = None
    customer_number: Text | None = None
    customer_name: str | None = None
    invoice_date: Day = None
    due_date: Day = None
    final_pay_date: Day = None
    invoice_type: str | None = None
    ocr: str | None = None
    currency: str | None = None
    currency_rate: Number = None
    currency_unit: Number = None
    terms_of_payment: str | None = None
    way_of_delivery: str | None = None
    project: str | None = None
    cost_center: str | None = None
    external_invoice_reference1: str | None = None
    external_invoice_reference2: str | None = None
    booked: bool | None = None
    cancelled: bool | None = None
    sent: bool | None = None
    nox_finans: bool | None = None
    balance: Number = None
    total: Number = None
    voucher_number: int | None = None
    voucher_series: str | None = None
    voucher_year: int | None = None


# --- small registers -------------------------------------------------------------------------


class TermsOfPayment(FortnoxModel):
    """Terms of payment (``/3/termsofpayments/{Code}``), e.g. code ``"30"``, ``"30 dagar"``."""

    envelope: ClassVar[str] = "TermsOfPayment"

    code: str | None = None
    description: str | None = None


class Currency(FortnoxModel):
    """A currency in the classic shape (reference §5.7)."""

    envelope: ClassVar[str] = "Currency"

    code: str | None = None
    description: str | None = None
    buy_rate: Number = None
    sell_rate: Number = None
    unit: Number = None
    date: Annotated[Day, READ_ONLY] = None
    is_automatic: Annotated[bool | None, READ_ONLY] = None


class Unit(FortnoxModel):
    """A unit of measure (``/3/units/{Code}``)."""

    envelope: ClassVar[str] = "Unit"

    code: str | None = None
    code_english: str | None = None
    description: str | None = None


class CompanyInformation(FortnoxModel):
    """The company (``/3/companyinformation``); ``DatabaseNumber`` is its tenant id."""

    envelope: ClassVar[str] = "CompanyInformation"

    company_name: str | None = None
    organization_number: str | None = None
    database_number: int | None = None
    address: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country_code: str | None = None
    visit_address: str | None = None
    visit_zip_code: str | None = None
    visit_city: str | None = None
    visit_country_code: str | None = None


ItemT = TypeVar("ItemT", bound=FortnoxModel)


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """One page of a list, with Fortnox's ``MetaInformation``."""

    items: list[ItemT]
    total_resources: int
    total_pages: int
    current_page: int

    @property
    def is_last(self) -> bool:
        # recorded: an empty list says TotalPages 0 and CurrentPage 1 (customers/search_miss.yml).
        return self.current_page >= self.total_pages
