"""Document lines and headers: normal forms, both mappings, the spec per delivery target."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.domain.tenants import make_tenant
from webcrm_fortnox.domain.document import (
    delivery_body,
    delivery_values,
    document_from_fortnox,
    document_payload,
    document_spec,
    split_id,
)
from webcrm_fortnox.domain.line import (
    Line,
    QuotationLineMapping,
    decode_lines,
    encode_lines,
    lines_diff,
    lines_from_rows,
    number,
    rows_from_lines,
)
from webcrm_fortnox.engine.ports import Direction
from webcrm_fortnox.webcrm.models import QuotationLine

CPH = ZoneInfo("Europe/Copenhagen")


def line(**overrides: object) -> Line:
    values: dict[str, object] = {
        "article": "101", "description": "Hammer", "quantity": 2, "price": 10,
        "discount": 0, "vat": 25,
    }  # fmt: skip
    values.update(overrides)
    return Line.of(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("2.00", "2"), (99.5, "99.5"), ("1.125", "1.13"), (None, "0"), ("-0", "0"), ("x", "0")],
)
def test_numbers_are_rounded_to_cents_without_trailing_zeros(given: object, expected: str) -> None:
    assert number(given) == expected


def test_lines_encode_and_decode_and_equal_values_encode_equally() -> None:
    lines = [line(), line(article=None, description='14" screen', quantity="1.50")]
    encoded = encode_lines(lines)
    assert decode_lines(encoded) == lines
    assert encoded == encode_lines([line(price="10.00"), lines[1]])
    # recorded (reference §2): Fortnox's character set has no straight double quote
    assert lines[1].description == "14’’ screen"


def test_fortnox_rows_and_lines_round_trip_without_row_ids() -> None:
    # recorded: orders/save_with_nested_model.yml returns quantities as strings ("1")
    rows = [{"RowId": 5, "ArticleNumber": "101", "Description": "Hammer", "OrderedQuantity": "2",
             "Price": 10, "Discount": 0, "VAT": 25}]  # fmt: skip
    lines = lines_from_rows(rows, "OrderedQuantity")
    assert lines == [line()]
    [row] = rows_from_lines(lines, "OrderedQuantity")
    assert "RowId" not in row
    assert row["ArticleNumber"] == "101" and row["DiscountType"] == "PERCENT"
    [free] = rows_from_lines([line(article=None, description="")], "DeliveredQuantity")
    assert "ArticleNumber" not in free and "Description" not in free
    assert free["DeliveredQuantity"] == "2"


def test_quotation_lines_name_an_article_only_when_fortnox_has_it() -> None:
    mapping = QuotationLineMapping(1, 2, frozenset({"101"}))
    known = QuotationLine.model_validate(
        {"QuotationLineData1": "101", "QuotationLineData2": "Hammer", "QuotationLineQuantity": 2,
         "QuotationLinePrice": 10, "QuotationLineVatPercentage": 25}
    )  # fmt: skip
    unknown = QuotationLine.model_validate(
        {"QuotationLineData1": "X-9", "QuotationLineMemo": "Old part", "QuotationLineQuantity": 1}
    )
    assert mapping.line(known) == line()
    assert mapping.line(unknown).article is None
    assert mapping.line(unknown).description == "Old part"
    body = mapping.body(line(), position=1, item_id=7)
    assert body["QuotationLineSortOrder"] == 20
    assert body["QuotationLineLinkedDataId"] == 7
    assert body["QuotationLineMemo"] == "Hammer"


def test_lines_diff_names_added_removed_and_changed_lines() -> None:
    old = encode_lines([line(), line(description="Saw")])
    new = encode_lines(
        [line(quantity=3), line(description="Saw"), line(article=None, description="Fee")]
    )
    assert lines_diff(old, new) == [
        "line 1: quantity 2 → 3",
        "line 3: + 2 × Fee à 10 (VAT 25 %)",
    ]
    assert lines_diff(new, "[]")[0] == "line 1: − 3 × 101 Hammer à 10 (VAT 25 %)"


def test_an_invoiced_order_shows_its_invoice_and_booking() -> None:
    order = {"DocumentNumber": "7", "CustomerNumber": "3", "OrderDate": "2026-03-02",
             "DeliveryDate": None, "OrderRows": []}  # fmt: skip
    invoice = {"DocumentNumber": "12", "InvoiceDate": "2026-03-05", "Booked": True}
    fields = document_from_fortnox("order", order, invoice)
    assert fields == {
        "customer_number": "3",
        "document_number": "7",
        "order_date": "2026-03-02",
        "delivery_date": None,
        "invoice_number": "12",
        "invoice_date": "2026-03-05",
        "invoice_booked": True,
        "lines": "[]",
    }
    plain = document_from_fortnox(
        "invoice", {"DocumentNumber": "4", "InvoiceDate": "2026-01-01"}, None
    )
    assert plain["invoice_number"] == "4" and plain["invoice_booked"] is False
    assert "order_date" not in plain


def test_only_customer_and_order_dates_are_sent_to_fortnox() -> None:
    values = {"customer_number": "3", "order_date": "2026-03-02", "invoice_number": "9"}
    assert document_payload("order", values, values) == {
        "CustomerNumber": "3",
        "OrderDate": "2026-03-02",
    }
    assert document_payload("invoice", values, values) == {"CustomerNumber": "3"}


def test_delivery_fields_read_and_written_in_webcrm_forms() -> None:
    mapping = make_tenant().documents.fields.mapping()
    delivery = {
        "DeliveryErpId": "7",
        "DeliveryOrderDate": "2026-03-02T00:00:00+01:00",
        "DeliveryCustom1": "",
        "DeliveryCustom2": "12",
        "DeliveryCustom3": "2026-03-05",
        "DeliveryCustom4": "Yes",
    }
    values = delivery_values(delivery, mapping, CPH)
    assert values == {
        "document_number": "7",
        "order_date": "2026-03-02",
        "delivery_date": None,
        "invoice_number": "12",
        "invoice_date": "2026-03-05",
        "invoice_booked": True,
    }
    body = delivery_body(values, mapping, values)
    assert body["DeliveryCustom4"] == "Yes"
    assert body["DeliveryOrderDate"] == "2026-03-02T00:00:00"
    assert body["DeliveryCustom1"] == ""
    late = {"DeliveryOrderDate": datetime(2026, 3, 1, 23, 30, tzinfo=UTC).isoformat()}
    assert delivery_values(late, mapping, CPH)["order_date"] == "2026-03-02"


def test_spec_follows_the_delivery_target_and_the_field_table() -> None:
    order = document_spec(make_tenant())
    assert order.rules["lines"].direction is Direction.BOTH
    assert order.rules["invoice_booked"].direction is Direction.TO_WEBCRM
    assert "order_date" in order.rules
    invoice = document_spec(make_tenant(delivery_target="invoice"))
    assert "order_date" not in invoice.rules
    fewer = document_spec(make_tenant(documents={"fields": {"invoice_date": ""}}))
    assert "invoice_date" not in fewer.rules
    assert fewer.required_for_create["fortnox"] == ("customer_number",)


def test_document_ids_name_their_kind() -> None:
    assert split_id("order:12") == ("order", "12")
    with pytest.raises(ValueError):
        split_id("12")


def test_unknown_delivery_fields_are_refused_in_the_configuration() -> None:
    with pytest.raises(Exception, match="invoice_number"):
        make_tenant(documents={"fields": {"invoice_number": "DeliveryCustom99"}})
