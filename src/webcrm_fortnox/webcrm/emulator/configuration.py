"""The field configuration every emulated system starts with: what ``/FieldsMetadata`` and
``/QuotationLines/LinkedSetup`` describe, and the defaults it gives custom fields.

A real webCRM system is configured by its administrator; this is a sensible configuration for a
Swedish company that invoices from Fortnox: the standard dropdowns filled in, the custom fields an
accounting sync needs switched on exactly where the product's default field table
(``webcrm_fortnox.config.WebcrmFields``) looks for them, so that a first sync against the demo
passes the ``/FieldsMetadata`` check out of the box, and a product register whose ``Data1..3``
hold item number, name and unit. The terms-of-payment dropdown's labels are Fortnox's codes
("30", "K"): a label such as "30 dagar" could never equal the code a Fortnox customer holds.
Custom values are encoded the way webCRM encodes them (reference §4.3): a dropdown holds the full
``"NN: label"`` string and starts at ``-- vælg --``, a checkbox holds ``"Yes"``/``"No"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from webcrm_fortnox.webcrm.emulator.dto import (
    DELIVERY,
    DROPDOWN_UNSET,
    LINKED_SETUP,
    ORGANISATION,
    PERSON,
    DtoSpec,
    FieldSpec,
    Record,
)

ORGANISATION_TYPES = ("Customer", "Private Customer", "Prospect", "Supplier", "Partner")
ORGANISATION_STATUSES = ("A-kund", "B-kund", "C-kund", "Vilande")
INDUSTRIES = ("IT och telekom", "Bygg", "Handel", "Tillverkning", "Konsult", "Offentlig sektor")
DELIVERY_PRODUCTS = ("Hårdvara", "Mjukvara", "Tjänster", "Support")
# Labels are the codes of a fresh Fortnox company's terms of payment (recorded:
# termsofpayments/all.yml): 30, 10, 15 and 20 days, K cash.
PAYMENT_TERMS = ("00: 30", "01: 10", "02: 15", "03: 20", "04: K")
CURRENCIES = ("00: SEK", "01: EUR", "02: NOK", "03: DKK", "04: USD")
CONTACT_ROLES = ("00: Beslutsfattare", "01: Inköp", "02: Ekonomi", "03: Teknik")

CHECKED, UNCHECKED = "Yes", "No"  # recorded: Constants.CustomCheckboxFieldCheckedValue = "Yes"


@dataclass(frozen=True)
class ConfiguredField:
    """A field the administrator has labelled (and, for dropdowns, given values)."""

    name: str
    label: str
    display_type: str  # FieldMetadataDisplayType: D dropdown, C checkbox, T text, DA date
    options: tuple[str, ...] = ()

    def default(self) -> str:
        return {"D": DROPDOWN_UNSET, "C": UNCHECKED}.get(self.display_type, "")


CONFIGURED: dict[str, tuple[ConfiguredField, ...]] = {
    "Organisation": (
        ConfiguredField("OrganisationType", "Typ", "D", ORGANISATION_TYPES),
        ConfiguredField("OrganisationStatus", "Status", "D", ORGANISATION_STATUSES),
        ConfiguredField("OrganisationIndustry", "Bransch", "D", INDUSTRIES),
        ConfiguredField("OrganisationExtraCustom1", "Kundnummer", "T"),
        ConfiguredField("OrganisationExtraCustom2", "Organisationsnummer", "T"),
        ConfiguredField("OrganisationExtraCustom8", "Fortnox-id", "T"),
        ConfiguredField("OrganisationCustom1", "Besöksadress", "T"),
        ConfiguredField("OrganisationCustom2", "Besökspostnummer", "T"),
        ConfiguredField("OrganisationCustom3", "Besöksort", "T"),
        ConfiguredField("OrganisationCustom4", "Besöksland", "T"),
        ConfiguredField("OrganisationCustom5", "Betalningsvillkor", "D", PAYMENT_TERMS),
        ConfiguredField("OrganisationCustom6", "Valuta", "D", CURRENCIES),
        ConfiguredField("OrganisationCustom7", "E-post", "EMA"),
        ConfiguredField("OrganisationCustom8", "Nyhetsbrev", "C"),
    ),
    "Person": (ConfiguredField("PersonCustom1", "Roll", "D", CONTACT_ROLES),),
    "Delivery": (
        ConfiguredField("DeliveryProduct", "Produktområde", "D", DELIVERY_PRODUCTS),
        ConfiguredField("DeliveryCustom1", "Leveransdatum", "DA"),
        ConfiguredField("DeliveryCustom2", "Fakturanummer", "T"),
        ConfiguredField("DeliveryCustom3", "Fakturadatum", "DA"),
        ConfiguredField("DeliveryCustom4", "Bokförd", "C"),
        ConfiguredField("DeliveryCustom5", "Fortnox-id", "T"),
    ),
}

METADATA_ENTITIES: dict[str, DtoSpec] = {
    "Organisation": ORGANISATION,
    "Person": PERSON,
    "Delivery": DELIVERY,
}
METADATA_TYPES = (
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
)
_DB_PREFIX = {"Organisation": "o", "Person": "p", "Delivery": "d"}
_UNCONFIGURED_FAMILY = re.compile(r"(ExtraCustom|Custom|Plus)\d+$")


def custom_field_defaults(entity: str) -> Record:
    """The starting values of ``entity``'s configured custom fields (``"No"``, ``-- vælg --``)."""
    return {f.name: f.default() for f in CONFIGURED.get(entity, ()) if f.default()}


def _display_type(spec: FieldSpec) -> str:
    if spec.kind == "string":
        return "T"
    return {"int": "I", "number": "DI", "bool": "C", "datetime": "DT", "enum": "D"}.get(
        spec.kind, "NONE"
    )


def _label(entity: str, name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.removeprefix(entity)).strip()
    return words.capitalize() if words else name


def field_metadata(entity: str) -> list[Record]:
    """``FieldMetadataDto`` of every field in use on ``entity`` (unused custom fields left out)."""
    spec = METADATA_ENTITIES[entity]
    configured = {f.name: f for f in CONFIGURED.get(entity, ())}
    base = 1000 * (list(METADATA_ENTITIES).index(entity) + 1)
    out: list[Record] = []
    for position, field in enumerate(spec.fields, start=1):
        setup = configured.get(field.name)
        if setup is None and _UNCONFIGURED_FAMILY.search(field.name):
            continue
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", field.name.removeprefix(entity)).lower()
        options: list[dict[str, Any]] = [
            {"Text": option.split(": ", 1)[-1], "Value": option}
            for option in (setup.options if setup else ())
        ]
        out.append(
            {
                "FieldMetadataDbFieldName": f"{_DB_PREFIX[entity]}_{snake}",
                "FieldMetadataFriendlyFieldName": field.name,
                "FieldMetadataId": base + position,
                "FieldMetadataLabel": setup.label if setup else _label(entity, field.name),
                "FieldMetadataSortOrder": base * 10 + position * 10,
                "FieldMetadataDisplayType": setup.display_type if setup else _display_type(field),
                "FieldMetadataTextFieldMaxLength": field.max_length or 0,
                "FieldMetadataDropdownListData": options,
            }
        )
    return out


def linked_setup() -> Record:
    """The product register's setup: Data1 item number (unique), Data2 name, Data3 unit."""
    p = "QuotationLineLinkedSetup"
    setup = LINKED_SETUP.blank()
    setup.update(
        {
            f"{p}Id": 1,
            f"{p}EntityType": "Product",
            f"{p}CostPriceLabel": "Inköpspris",
            f"{p}ListPriceLabel": "Listpris",
            f"{p}PriceLabel": "Pris",
            f"{p}QuantityLabel": "Antal",
            f"{p}FontSize": 10,
            f"{p}FontFamily": "Arial",
            f"{p}CostPriceEditMode": "Never",
            f"{p}LinkMode": "Regular",
            f"{p}LookupMode": "FreeTextSearch",
            f"{p}IsUniqueValueRequired": True,
            f"{p}UseItemGroup": True,
            f"{p}CreateDateField": "",
            f"{p}UpdateDateField": "",
        }
    )
    for flag in (
        "UseCostPrice",
        "UseListPrice",
        "UseQuantity",
        "UseDiscount",
        "UsePriceLine",
        "UsePriceTotal",
        "UseVat",
        "UseVatPerLine",
        "UseLineNumber",
    ):
        setup[f"{p}{flag}"] = True
    for n in (1, 2, 3):
        setup[f"{p}UseLinkedField{n}"] = True
        setup[f"{p}Field{n}"] = n
    return setup
