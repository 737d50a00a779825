"""What a tenant's configuration needs from the webCRM system's field setup, and whether it has it.

Before the first sync the adapter reads ``/FieldsMetadata/Organisation`` and hands it here. A
configured custom field that webCRM does not list is not switched on; one listed with an
unsuitable display type cannot hold the data. Either is reported with what to create.

Display types are documented only as codes; their meanings here are inferred (reference §5.7:
D dropdown, C checkbox, T text, DA/DT date, M/ML memo, EMA e-mail, TELE phone, I/DI numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from webcrm_fortnox.domain.types import type_key
from webcrm_fortnox.domain.webcrm_fields import TYPE_FIELD, is_custom_field

if TYPE_CHECKING:
    from webcrm_fortnox.domain.settings import CustomerMapping

TEXT_TYPES: Final = frozenset({"T", "M", "ML", "EMA", "TELE"})
DROPDOWN_TYPES: Final = frozenset({"D"})
KIND_NAMES: Final[Mapping[str, str]] = {
    "T": "text",
    "M": "memo",
    "ML": "memo",
    "EMA": "e-mail",
    "TELE": "phone",
    "D": "dropdown",
    "C": "checkbox",
    "DA": "date",
    "DT": "date and time",
    "I": "integer",
    "DI": "number",
}

#: What a person would call each canonical field when creating its webCRM custom field.
LABELS: Final[Mapping[str, str]] = {
    "zip_code": "Postcode",
    "city": "City",
    "country": "Country",
    "phone": "Phone",
    "website": "Website",
    "fax": "Fax",
    "vat_number": "VAT number",
    "customer_number": "Customer number",
    "organisation_number": "Organisation number",
    "visiting_address": "Visiting address",
    "visiting_zip_code": "Visiting postcode",
    "visiting_city": "Visiting city",
    "visiting_country": "Visiting country",
    "terms_of_payment": "Terms of payment",
    "currency": "Currency",
    "email": "E-mail",
}

# Values from a short list of codes may live in a dropdown whose labels are those values.
_DROPDOWN_OK: Final = frozenset({"terms_of_payment", "currency", "country", "visiting_country"})


@dataclass(frozen=True)
class RequiredField:
    """A custom field the configuration maps a canonical field to."""

    field: str
    webcrm_field: str
    label: str
    display_types: frozenset[str]

    @property
    def kind(self) -> str:
        """The kind to create, in the words of webCRM's configuration."""
        return "text (or dropdown)" if self.display_types & DROPDOWN_TYPES else "text"


@dataclass(frozen=True)
class SetupProblem:
    """Something the webCRM field setup lacks, in words a webCRM administrator can act on."""

    field: str
    webcrm_field: str
    message: str

    def __str__(self) -> str:
        return self.message


def required_fields(tenant: CustomerMapping) -> list[RequiredField]:
    """The custom fields this tenant's ``[tenant.fields]`` table needs on organisations."""
    return [
        RequiredField(
            field=field,
            webcrm_field=webcrm_field,
            label=LABELS.get(field, field),
            display_types=TEXT_TYPES | (DROPDOWN_TYPES if field in _DROPDOWN_OK else frozenset()),
        )
        for field, webcrm_field in tenant.fields.mapping().items()
        if is_custom_field(webcrm_field)
    ]


def _by_name(metadata: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(m.get("FieldMetadataFriendlyFieldName")): m for m in metadata}


def check_setup(
    tenant: CustomerMapping, metadata: Sequence[Mapping[str, Any]]
) -> list[SetupProblem]:
    """What the webCRM field setup (``/FieldsMetadata/Organisation``) lacks for this tenant.

    Returns:
        One problem per missing or unsuitable custom field, and one per configured customer
        Type that the Type dropdown does not offer; empty when all is in place.
    """
    listed = _by_name(metadata)
    problems: list[SetupProblem] = []
    for need in required_fields(tenant):
        meta = listed.get(need.webcrm_field)
        if meta is None:
            problems.append(
                SetupProblem(
                    need.field,
                    need.webcrm_field,
                    f"webCRM has no {need.webcrm_field} on organisations: create a custom field "
                    f"of kind {need.kind} named {need.label!r} as {need.webcrm_field}, or map "
                    f"fields.{need.field} to another field",
                )
            )
            continue
        display = str(meta.get("FieldMetadataDisplayType", ""))
        if display not in need.display_types:
            label = meta.get("FieldMetadataLabel") or need.webcrm_field
            problems.append(
                SetupProblem(
                    need.field,
                    need.webcrm_field,
                    f"webCRM's {need.webcrm_field} ({label!r}) is a "
                    f"{KIND_NAMES.get(display, display or 'unknown')} field, but "
                    f"{need.label.lower()} needs a field of kind {need.kind}: change it in "
                    f"webCRM, or map fields.{need.field} to another field",
                )
            )
    problems.extend(_check_type_options(tenant, listed.get(TYPE_FIELD)))
    return problems


def _check_type_options(
    tenant: CustomerMapping, meta: Mapping[str, Any] | None
) -> list[SetupProblem]:
    options = _options(meta) if meta is not None else []
    if not options:
        return []  # not a dropdown with listed options: nothing to compare against
    offered = {type_key(option) for option in options}
    return [
        SetupProblem(
            "customer_type",
            TYPE_FIELD,
            f"webCRM's organisation Type dropdown has no option {value!r}: add it in webCRM, "
            "or change customer_types",
        )
        for value in tenant.customer_types
        if type_key(value) not in offered
    ]


def _options(meta: Mapping[str, Any]) -> list[str]:
    items = meta.get("FieldMetadataDropdownListData") or []
    return [str(item.get("Value") or item.get("Text") or "") for item in items]


def dropdowns(
    tenant: CustomerMapping, metadata: Sequence[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """The mapped webCRM fields that are dropdowns, with their option values as stored."""
    listed = _by_name(metadata)
    out: dict[str, list[str]] = {}
    for webcrm_field in tenant.fields.mapping().values():
        meta = listed.get(webcrm_field)
        if meta is not None and meta.get("FieldMetadataDisplayType") in DROPDOWN_TYPES:
            out[webcrm_field] = _options(meta)
    return out


def type_options(metadata: Sequence[Mapping[str, Any]]) -> list[str]:
    """The Type dropdown's options as stored (e.g. ``"01: Customer"``), if webCRM lists them."""
    meta = _by_name(metadata).get(TYPE_FIELD)
    return _options(meta) if meta is not None else []
