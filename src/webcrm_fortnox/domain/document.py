"""Documents: a webCRM delivery and the Fortnox order or invoice it syncs with.

``delivery_target`` chooses what a delivery becomes in Fortnox. A canonical document is::

    customer_number   the Fortnox customer; in webCRM the organisation linked to it
    document_number   the order (order mode) or invoice (invoice mode) number   Fortnox → webCRM
    order_date        order mode only                                           both ways
    delivery_date     order mode only                                           both ways
    invoice_number    the invoice (in order mode: the order's, once invoiced)   Fortnox → webCRM
    invoice_date      as the invoice number                                     Fortnox → webCRM
    invoice_booked    whether that invoice is booked                            Fortnox → webCRM
    lines             every line, as one value (see :mod:`webcrm_fortnox.domain.line`)  both ways

A Fortnox record's id names its kind, ``order:12`` or ``invoice:7``: in order mode, invoices
created directly in Fortnox sync too (as completed deliveries), next to the orders, while an
invoice made from an order only adds its number, date and booked state to the order's record.

Dates are ``YYYY-MM-DD`` text; webCRM's order date is a timestamp and is read as the date it
falls on in webCRM's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Final, Literal

from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.line import NO_LINES, encode_lines, lines_from_rows
from webcrm_fortnox.domain.normalise import text
from webcrm_fortnox.engine.ports import Direction, EntitySpec, FieldRule, Policy, Value

if TYPE_CHECKING:
    from webcrm_fortnox.domain.settings import DocumentMapping

ENTITY: Final = "document"
Kind = Literal["order", "invoice"]

#: Fields both ways; the books (Fortnox) win when both sides changed one.
_BOTH: Final = FieldRule(Direction.BOTH, Policy.FORTNOX)
#: Fortnox's own numbers and states: shown in webCRM, never written to Fortnox.
_FROM_FORTNOX: Final = FieldRule(Direction.TO_WEBCRM, Policy.FORTNOX, blank_overwrites=True)

ORDER_FIELDS: Final = {
    "customer_number": _BOTH,
    "document_number": _FROM_FORTNOX,
    "order_date": _BOTH,
    "delivery_date": _BOTH,
    "invoice_number": _FROM_FORTNOX,
    "invoice_date": _FROM_FORTNOX,
    "invoice_booked": _FROM_FORTNOX,
    "lines": _BOTH,
}
INVOICE_FIELDS: Final = {
    name: rule for name, rule in ORDER_FIELDS.items() if name not in ("order_date", "delivery_date")
}
#: Canonical fields that need no webCRM delivery field of their own.
ALWAYS_HELD: Final = frozenset({"customer_number", "lines"})


def document_spec(tenant: DocumentMapping) -> EntitySpec:
    """The engine's description of documents for this tenant's ``delivery_target``.

    Only fields webCRM holds under ``[tenant.documents.fields]`` take part (plus the customer
    and the lines). A delivery without a Fortnox customer is not sent (reported, and tried again
    once the customer is linked); a Fortnox document always has one.
    """
    fields = ORDER_FIELDS if tenant.delivery_target == "order" else INVOICE_FIELDS
    held = ALWAYS_HELD | set(tenant.documents.fields.mapping())
    return EntitySpec(
        entity=ENTITY,
        rules={name: rule for name, rule in fields.items() if name in held},
        create_in=frozenset({"webcrm", "fortnox"}),
        required_for_create={"fortnox": ("customer_number",), "webcrm": ("customer_number",)},
    )


def record_id(kind: Kind, number: str) -> str:
    """The id of a Fortnox document as the engine knows it: ``order:12``, ``invoice:7``."""
    return f"{kind}:{number}"


def split_id(value: str) -> tuple[Kind, str]:
    """``("order", "12")`` from ``order:12``.

    Raises:
        ValueError: not an id made by :func:`record_id`.
    """
    kind, _, number = value.partition(":")
    if kind not in ("order", "invoice") or not number:
        raise ValueError(f"not a Fortnox document id: {value!r}")
    return ("order" if kind == "order" else "invoice"), number


def day(value: Any, tz: tzinfo | None = None) -> str | None:
    """A date as ``YYYY-MM-DD`` (a datetime as its date in ``tz``); blank is ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when: datetime = value
        if tz is not None:
            # a timestamp without offset is webCRM-local time
            when = when.replace(tzinfo=tz) if when.tzinfo is None else when.astimezone(tz)
        return when.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    cleaned = text(value)[:10]
    return cleaned or None


def document_from_fortnox(
    kind: Kind, document: Mapping[str, Any], invoice: Mapping[str, Any] | None
) -> dict[str, Value]:
    """A canonical document from a Fortnox order or invoice (Fortnox names).

    Args:
        kind: what ``document`` is.
        document: the order or invoice, read in full (list items have no rows).
        invoice: for an invoiced order, the invoice made from it; ``None`` otherwise.
    """
    if kind == "invoice":
        invoice = document
    rows = document.get("OrderRows" if kind == "order" else "InvoiceRows") or []
    quantity = "OrderedQuantity" if kind == "order" else "DeliveredQuantity"
    fields: dict[str, Value] = {
        "customer_number": text(document.get("CustomerNumber")) or None,
        "document_number": text(document.get("DocumentNumber")) or None,
        "invoice_number": None if invoice is None else text(invoice.get("DocumentNumber")),
        "invoice_date": None if invoice is None else day(invoice.get("InvoiceDate")),
        "invoice_booked": bool(invoice is not None and invoice.get("Booked")),
        "lines": encode_lines(lines_from_rows(rows, quantity)) if rows else NO_LINES,
    }
    if kind == "order":
        fields["order_date"] = day(document.get("OrderDate"))
        fields["delivery_date"] = day(document.get("DeliveryDate"))
    return fields


def document_payload(kind: Kind, values: Mapping[str, Value], names: Any) -> dict[str, Any]:
    """The header of a Fortnox order or invoice (Fortnox names) for the canonical ``names``.

    Only fields Fortnox takes from us are sent: the customer and, on orders, the two dates.
    The rows are built separately (:func:`~webcrm_fortnox.domain.line.rows_from_lines`).
    """
    wanted = set(names)
    body: dict[str, Any] = {}
    if "customer_number" in wanted and values.get("customer_number"):
        body["CustomerNumber"] = values["customer_number"]
    if kind == "order":
        for name, fortnox in (("order_date", "OrderDate"), ("delivery_date", "DeliveryDate")):
            if name in wanted and values.get(name):
                body[fortnox] = fortnox_date(name, values[name])
    return body


def fortnox_date(name: str, value: Value) -> str:
    """A canonical date as Fortnox takes it, ``YYYY-MM-DD``.

    Raises:
        MappingError: the value is not a calendar date (a date field in webCRM may be free
            text, e.g. "imorgon" or "2026-02-31"); only this record fails, with the reason.
    """
    raw = str(value)
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        pass
    label = name.replace("_", " ")
    raise MappingError(
        f"the {label} {raw!r} is not a date; write it in webCRM as a calendar date such as "
        "2026-03-31",
        system="fortnox",
        field=name,
    )


# --- webCRM deliveries -------------------------------------------------------------------------

CHECKED: Final = "Yes"  # recorded: Constants.CustomCheckboxFieldCheckedValue = "Yes"
UNCHECKED: Final = "No"
#: What a delivery made from a Fortnox invoice is (the specification: status "completed").
COMPLETED: Final = "Completed"


def delivery_values(
    delivery: Mapping[str, Any], mapping: Mapping[str, str], tz: tzinfo
) -> dict[str, Value]:
    """The canonical header fields webCRM holds for a delivery (wire names in ``delivery``).

    Args:
        delivery: the delivery as webCRM returns it.
        mapping: canonical field → webCRM delivery field (``[tenant.documents.fields]``).
        tz: webCRM's time zone, for the order-date timestamp.
    """
    values: dict[str, Value] = {}
    for name, field in mapping.items():
        raw = delivery.get(field)
        if name == "invoice_booked":
            values[name] = text(raw).casefold() in ("yes", "true", "1")
        elif name in ("order_date", "delivery_date", "invoice_date"):
            values[name] = day(_timestamp(raw), tz)
        else:
            values[name] = text(raw) or None
    return values


def delivery_body(
    values: Mapping[str, Value], mapping: Mapping[str, str], names: Any
) -> dict[str, Any]:
    """Delivery fields (wire names) holding the canonical ``names`` of ``values``."""
    body: dict[str, Any] = {}
    for name in names:
        field = mapping.get(name)
        if field is None:
            continue
        value = values.get(name)
        if name == "invoice_booked":
            body[field] = CHECKED if value else UNCHECKED
        elif name == "order_date" and field == "DeliveryOrderDate":
            # a standard timestamp field; a custom date field takes the bare date
            body[field] = f"{value}T00:00:00" if value else "0001-01-01T00:00:00"
        else:
            body[field] = "" if value is None else str(value)
    return body


def _timestamp(raw: Any) -> Any:
    if isinstance(raw, str) and raw.startswith("0001-01-01"):
        return None  # webCRM's "unset" timestamp (.NET DateTime.MinValue)
    if isinstance(raw, str) and "T" in raw:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return raw
    return raw
