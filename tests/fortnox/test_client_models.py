"""Typed Fortnox records: tolerant reading, careful writing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from webcrm_fortnox.fortnox.models import (
    BLANK,
    Article,
    ArticleListItem,
    Customer,
    Invoice,
    InvoiceListItem,
    InvoiceRow,
    Order,
    OrderRow,
    Page,
    Price,
    fortnox_name,
)

# Shapes as recorded from the real API (values shortened).
ARTICLE_LIST_ITEM = {
    "@url": "https://api.fortnox.se/3/articles/101", "ArticleNumber": "101",
    "Description": "Hammer", "DisposableQuantity": "0", "EAN": "", "Housework": False,
    "PurchasePrice": "12.5", "SalesPrice": None, "QuantityInStock": "3", "ReservedQuantity": "0",
    "StockPlace": "", "StockValue": "0", "Unit": None, "VAT": None, "WebshopArticle": False,
}  # fmt: skip
INVOICE = {
    "@url": "https://api.fortnox.se/3/invoices/20", "Booked": False, "Cancelled": False,
    "ContractReference": 0, "Credit": "false", "CreditInvoiceReference": "0",
    "CurrencyRate": 1, "CustomerNumber": "1", "DocumentNumber": "20", "DueDate": "2023-03-01",
    "InvoiceDate": "2023-01-30", "InvoicePeriodStart": "", "InvoiceReference": "0",
    "OCR": "2048", "OrderReference": "7", "Total": 0, "TotalVAT": 0, "VATIncluded": False,
    "InvoiceRows": [{
        "AccountNumber": 3001, "ArticleNumber": "101", "ContributionPercent": "0",
        "ContributionValue": "-0", "DeliveredQuantity": "1.5", "Price": 10,
        "PriceExcludingVAT": 10, "RowId": 2, "Total": 15, "VAT": 25,
    }],
    "SomethingNew": {"x": 1},
}  # fmt: skip


def test_numbers_sent_as_strings_become_decimals() -> None:
    item = ArticleListItem.model_validate(ARTICLE_LIST_ITEM)
    assert item.purchase_price == Decimal("12.5")
    assert item.quantity_in_stock == Decimal(3)
    assert item.sales_price is None
    assert InvoiceListItem.model_validate({"CurrencyRate": "1"}).currency_rate == Decimal(1)


def test_zero_references_mean_none_and_string_booleans_are_read() -> None:
    invoice = Invoice.model_validate(INVOICE)
    assert invoice.credit is False
    assert invoice.credit_invoice_reference is None
    assert invoice.invoice_reference is None
    assert invoice.contract_reference is None
    assert invoice.order_reference == "7"
    assert invoice.invoice_period_start is None
    assert invoice.due_date == date(2023, 3, 1)


def test_fortnox_spellings_and_unknown_fields_are_kept() -> None:
    invoice = Invoice.model_validate(INVOICE)
    assert invoice.url == "https://api.fortnox.se/3/invoices/20"
    assert invoice.ocr == "2048" and invoice.vat_included is False
    assert invoice.model_extra == {"SomethingNew": {"x": 1}}
    row = invoice.invoice_rows[0] if invoice.invoice_rows else None
    assert isinstance(row, InvoiceRow)
    assert row.delivered_quantity == Decimal("1.5") and row.vat == Decimal(25)
    assert row.contribution_value == 0


def test_alias_generator_handles_acronyms() -> None:
    assert fortnox_name("vat_number") == "VATNumber"
    assert fortnox_name("email_invoice_bcc") == "EmailInvoiceBCC"
    assert fortnox_name("eu_vat_account") == "EUVATAccount"
    assert fortnox_name("external_invoice_reference1") == "ExternalInvoiceReference1"
    assert fortnox_name("www") == "WWW"
    assert Customer(VATNumber="SE1").vat_number == Customer(vat_number="SE1").vat_number


def test_numeric_identifiers_are_read_as_text() -> None:
    # recorded: customers/save_new_with_sales_account.yml sends "3001", gets 3001 back.
    customer = Customer.model_validate({"CustomerNumber": 5, "SalesAccount": 3001})
    assert (customer.customer_number, customer.sales_account) == ("5", "3001")


def test_payload_has_only_the_fields_set() -> None:
    assert Customer(name="Acme AB", city="Lund").to_payload() == {"Name": "Acme AB", "City": "Lund"}


def test_payload_clears_text_with_api_blank_and_leaves_out_unclearable_values() -> None:
    payload = Customer(name="Acme", email="", www=None, invoice_discount=None).to_payload()
    assert payload == {"Name": "Acme", "Email": BLANK, "WWW": BLANK}


def test_payload_never_sends_read_only_or_unknown_fields() -> None:
    payload = Invoice.model_validate(INVOICE).to_payload()
    sent = set(payload)
    assert not {"@url", "Booked", "Cancelled", "Total", "TotalVAT", "Credit"} & sent
    assert not {"OrderReference", "CreditInvoiceReference", "SomethingNew"} & sent
    assert payload["InvoiceRows"] == [
        {"RowId": 2, "ArticleNumber": "101", "DeliveredQuantity": 1.5, "Price": 10, "VAT": 25,
         "AccountNumber": 3001}
    ]  # fmt: skip


def test_payload_numbers_and_dates_are_json_ready() -> None:
    order = Order(
        customer_number="1",
        order_date=date(2024, 5, 2),
        order_rows=[OrderRow(article_number="101", ordered_quantity="2", price=Decimal("9.90"))],
    )
    assert order.wrapped() == {
        "Order": {
            "CustomerNumber": "1",
            "OrderDate": "2024-05-02",
            "OrderRows": [{"ArticleNumber": "101", "OrderedQuantity": 2, "Price": 9.9}],
        }
    }


def test_article_sales_price_is_read_only() -> None:
    assert Article(description="Hammer", sales_price=5).to_payload() == {"Description": "Hammer"}


def test_price_envelope() -> None:
    price = Price(article_number="101", price_list="A", from_quantity=0, price=99.5)
    assert price.wrapped() == {
        "Price": {"ArticleNumber": "101", "PriceList": "A", "FromQuantity": 0, "Price": 99.5}
    }


def test_empty_list_page_is_the_last() -> None:
    # recorded: customers/search_miss.yml says TotalPages 0, CurrentPage 1.
    assert Page(items=[], total_resources=0, total_pages=0, current_page=1).is_last
    assert not Page(items=[], total_resources=600, total_pages=2, current_page=1).is_last
