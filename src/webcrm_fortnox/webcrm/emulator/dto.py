"""The DTOs of the webCRM REST API: field names, types, max lengths, enums and "unset" values.

Names, types, max lengths and enums follow webCRM's own OpenAPI document (swagger v1, 2019). The
"unset" values are what real responses carry for a field nobody filled in (recorded samples in the
reference, §4.2): ``""`` for text, ``0`` for numbers and links, ``false``, ``0001-01-01T00:00:00``
for dates and ``-- vælg --`` for an unselected standard dropdown.

Writes are read the way ASP.NET with Newtonsoft reads them: property names case-insensitively,
unknown properties ignored, ``null`` left out, numbers in strings accepted for numeric fields, enum
names case-insensitively or by their number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.timestamps import UNSET, format_time, parse_time

Kind = Literal["string", "int", "number", "bool", "datetime", "enum", "array"]
Record = dict[str, Any]

DROPDOWN_UNSET = "-- vælg --"  # recorded: OrganisationType/Status/Industry, DeliveryProduct


@dataclass(frozen=True)
class FieldSpec:
    """One property of a DTO.

    Attributes:
        enum: the allowed names of an enum (or of the items of an array of enums).
        unset: the value a record carries when the field was never set.
    """

    name: str
    kind: Kind
    max_length: int | None = None
    enum: tuple[str, ...] = ()
    unset: Any = None

    def coerce(self, value: Any) -> Any:
        """``value`` converted to this field's type, as the API would store it.

        Raises:
            WebcrmError: 400 when the value cannot be converted or is too long.
        """
        converted = _COERCERS[self.kind](self, value)
        if (
            self.max_length is not None
            and isinstance(converted, str)
            and (len(converted) > self.max_length)
        ):
            # the wording of ASP.NET's MaxLength attribute
            raise bad_request(
                f"The field {self.name} must be a string or array type with a maximum length of "
                f"'{self.max_length}'."
            )
        return converted

    def _fail(self, value: Any) -> Exception:
        return bad_request(f"Error converting value {value!r} to the type of {self.name}.")


@dataclass(frozen=True)
class DtoSpec:
    """A DTO: its fields in the order of the specification."""

    name: str
    fields: tuple[FieldSpec, ...]
    _by_lower: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {f.name.lower(): f for f in self.fields})

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def lookup(self, name: str) -> FieldSpec | None:
        """The field called ``name``, matched case-insensitively."""
        return self._by_lower.get(name.lower())

    def blank(self) -> Record:
        """A record with every field at its unset value."""
        return {f.name: list(f.unset) if f.kind == "array" else f.unset for f in self.fields}

    def read(self, body: Any, *, ignore: Iterable[str] = ()) -> Record:
        """The fields a write body sets, converted and validated; nothing else.

        Args:
            body: the parsed JSON body (must be an object).
            ignore: fields the server sets itself; values sent for them are dropped.

        Raises:
            WebcrmError: 400 for a body that is not an object or a value that does not fit.
        """
        if not isinstance(body, Mapping):
            raise bad_request(f"The request body must be a JSON object ({self.name}).")
        skipped = {name.lower() for name in ignore}
        values: Record = {}
        for key, value in body.items():
            spec = self.lookup(str(key))
            if spec is None or value is None or spec.name.lower() in skipped:
                continue
            values[spec.name] = spec.coerce(value)
        return values

    def project(self, record: Mapping[str, Any]) -> Record:
        """A response copy of ``record`` holding exactly this DTO's fields."""
        out: Record = {}
        for f in self.fields:
            value = record.get(f.name, f.unset)
            out[f.name] = list(value) if isinstance(value, list) else value
        return out


def _string(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"  # what .NET's bool.ToString() gives
    if isinstance(value, int | float):
        return str(value)
    raise spec._fail(value)


def _int(spec: FieldSpec, value: Any) -> int:
    number: float
    if isinstance(value, bool):
        raise spec._fail(value)
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise spec._fail(value) from None
    else:
        raise spec._fail(value)
    if not math.isfinite(number) or number != int(number):
        raise spec._fail(value)
    result = int(number)
    limit = 2**63 if spec.name == "Id" else 2**31  # hook ids are int64, the rest int32
    if not -limit <= result < limit:
        raise spec._fail(value)
    return result


def _number(spec: FieldSpec, value: Any) -> float:
    if isinstance(value, bool):
        raise spec._fail(value)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise spec._fail(value) from None
    if not math.isfinite(number):
        raise spec._fail(value)
    return number


def _bool(spec: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise spec._fail(value)


def _datetime(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise spec._fail(value)
    try:
        parsed = parse_time(value)
    except ValueError:
        raise spec._fail(value) from None
    return UNSET if parsed is None else format_time(parsed)


def _enum(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(spec.enum):
        return spec.enum[value]  # Newtonsoft's StringEnumConverter also reads the number
    if isinstance(value, str):
        for name in spec.enum:
            if name.lower() == value.strip().lower():
                return name
    raise bad_request(
        f"The value {value!r} is not valid for {spec.name}; expected one of {', '.join(spec.enum)}."
    )


def _array(spec: FieldSpec, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise spec._fail(value)
    return [_enum(spec, item) for item in value]


_COERCERS: dict[str, Callable[[FieldSpec, Any], Any]] = {
    "string": _string,
    "int": _int,
    "number": _number,
    "bool": _bool,
    "datetime": _datetime,
    "enum": _enum,
    "array": _array,
}


# Builders that keep the field lists below close to the specification's own listing.


def text(name: str, max_length: int | None = None) -> FieldSpec:
    return FieldSpec(name, "string", max_length=max_length, unset="")


def dropdown(name: str, max_length: int | None = None) -> FieldSpec:
    return FieldSpec(name, "string", max_length=max_length, unset=DROPDOWN_UNSET)


def integer(name: str) -> FieldSpec:
    return FieldSpec(name, "int", unset=0)


def number(name: str) -> FieldSpec:
    return FieldSpec(name, "number", unset=0.0)


def boolean(name: str) -> FieldSpec:
    return FieldSpec(name, "bool", unset=False)


def moment(name: str) -> FieldSpec:
    return FieldSpec(name, "datetime", unset=UNSET)


def enum(name: str, *values: str, unset: str | None = None) -> FieldSpec:
    return FieldSpec(name, "enum", enum=values, unset=values[0] if unset is None else unset)


def enum_array(name: str, *values: str) -> FieldSpec:
    return FieldSpec(name, "array", enum=values, unset=())


def family(prefix: str, first: int, last: int, make: Any, *args: Any) -> list[FieldSpec]:
    """``prefix{first..last}`` fields built by ``make`` (e.g. ``OrganisationPlus1..20``)."""
    return [make(f"{prefix}{n}", *args) for n in range(first, last + 1)]


ENTITY_TYPES = (
    "Undefined",
    "Organisation",
    "Person",
    "Activity",
    "Meeting",
    "Opportunity",
    "Delivery",
    "Product",
    "SupportCase",
    "SupportFaq",
)

ORGANISATION = DtoSpec(
    "OrganisationDto",
    (
        text("OrganisationAddress", 250),
        text("OrganisationAlert", 50),
        integer("OrganisationApprovalStatus"),
        text("OrganisationCity", 50),
        text("OrganisationComment"),
        text("OrganisationCompareName", 500),
        text("OrganisationCountry", 50),
        moment("OrganisationCreatedAt"),
        text("OrganisationCreatedBy"),
        text("OrganisationDivisionName", 200),
        text("OrganisationDomain", 50),
        *family("OrganisationExtraCustom", 1, 8, text, 50),
        text("OrganisationFax", 50),
        text("OrganisationGps", 50),
        integer("OrganisationId"),
        text("OrganisationImageFileExtension"),
        dropdown("OrganisationIndustry", 50),
        moment("OrganisationLastDisplayedAt"),
        enum(
            "OrganisationLastItemType",
            "Undefined",
            "Activity",
            "Opportunity",
            "Delivery",
            "Meeting",
            "SupportCase",
        ),
        moment("OrganisationLastItemUpdatedAt"),
        text("OrganisationMarketDataId"),
        integer("OrganisationMarketDataProviderId"),
        text("OrganisationName", 200),
        boolean("OrganisationNoAds"),
        text("OrganisationHistory"),
        integer("OrganisationOutlookSync"),
        text("OrganisationOverlayUrl"),
        integer("OrganisationOwner"),
        integer("OrganisationOwner2"),
        text("OrganisationPostCode"),
        integer("OrganisationReportTemp"),
        integer("OrganisationSla"),
        text("OrganisationState"),
        dropdown("OrganisationStatus"),
        text("OrganisationTelephone", 50),
        text("OrganisationTelephoneSearch"),
        integer("OrganisationTerritoryId"),
        dropdown("OrganisationType"),
        moment("OrganisationUpdatedAt"),
        text("OrganisationUpdatedBy"),
        text("OrganisationVatCountry", 10),
        text("OrganisationVatGroup", 20),
        text("OrganisationVatNumber", 50),
        text("OrganisationVatStatus"),
        moment("OrganisationVatVerifiedAt"),
        text("OrganisationWww", 50),
        *family("OrganisationXDate", 1, 2, moment),
        *family("OrganisationXInt", 1, 8, integer),
        *family("OrganisationXMemo", 1, 2, text),
        *family("OrganisationXText", 1, 8, text, 50),
        *family("OrganisationPlus", 1, 20, text),
        *family("OrganisationCustom", 1, 15, text),
        text("OrganisationMemo"),
    ),
)

PERSON = DtoSpec(
    "PersonDto",
    (
        moment("PersonBirthday"),
        boolean("PersonBlockMassEmail"),
        boolean("PersonBlockMassEmail2"),
        text("PersonCampaignPassword"),
        integer("PersonCampaignWrongPasswordCount"),
        *family("PersonCheckMark", 1, 10, boolean),
        text("PersonComment"),
        moment("PersonCreatedAt"),
        text("PersonCreatedBy"),
        text("PersonDirectPhone"),
        text("PersonEmail"),
        text("PersonEmail2"),
        boolean("PersonEmailBounces"),
        boolean("PersonEmail2Bounces"),
        text("PersonFirstName"),
        integer("PersonId"),
        text("PersonImageFileExtension"),
        moment("PersonLastLoginDateTime"),
        text("PersonLastName"),
        text("PersonLoginLog"),
        text("PersonMarketDateId"),
        integer("PersonMemberGroupId"),
        integer("PersonMemberLanguageId"),
        text("PersonMemberNumber"),
        text("PersonMemberPassword"),
        moment("PersonMemberStartDate"),
        integer("PersonMemberStatusId"),
        integer("PersonMemberWrongPasswordCount"),
        text("PersonMiddleName"),
        text("PersonMobilePhone"),
        text("PersonName"),
        text("PersonHistory"),
        integer("PersonOrganisationId"),
        text("PersonPassword"),
        text("PersonSalutation"),
        text("PersonSkype"),
        integer("PersonSortOrder"),
        enum("PersonStatus", "Active", "Resigned", "Other", "Guest"),
        integer("PersonSupportLanguageId"),
        text("PersonTelephoneSearch"),
        text("PersonTitle"),
        moment("PersonUpdatedAt"),
        text("PersonUpdatedBy"),
        *family("PersonPlus", 1, 20, text),
        *family("PersonCustom", 1, 15, text),
        text("PersonMemo"),
    ),
)

DELIVERY_STATUSES = ("New", "Planned", "OnGoing", "Completed", "GeneralDelivery")

DELIVERY = DtoSpec(
    "DeliveryDto",
    (
        integer("DeliveryAssignedTo"),
        integer("DeliveryAssignedTo2"),
        text("DeliveryComment"),
        moment("DeliveryCreatedAt"),
        text("DeliveryCreatedBy"),
        text("DeliveryCurrencyName"),
        text("DeliveryDescription"),
        number("DeliveryDiscount"),
        text("DeliveryErpId"),
        text("DeliveryErpReadOnly"),
        enum(
            "DeliveryErpStatus",
            "NotReadyForSynchronization",
            "ReadyForSynchronization",
            "Synchronized",
        ),
        moment("DeliveryErpSyncDateTime"),
        *family("DeliveryGmRevenue", 1, 12, number),
        text("DeliveryHistory"),
        integer("DeliveryId"),
        moment("DeliveryNextFollowUp"),
        text("DeliveryNote"),
        text("DeliveryNumber"),
        *family("DeliveryOpportunityCustom", 1, 15, text),
        text("DeliveryOpportunityMemo"),
        *family("DeliveryOpportunityPlus", 1, 20, text),
        moment("DeliveryOrderDate"),
        number("DeliveryOrderGmValue"),
        number("DeliveryOrderValue"),
        integer("DeliveryOrganisationId"),
        integer("DeliveryPercent"),
        integer("DeliveryPersonId"),
        dropdown("DeliveryProduct"),
        integer("DeliveryProductId"),
        integer("DeliveryQuotationLanguageId"),
        integer("DeliveryResponsible"),
        *family("DeliveryRevenue", 1, 12, number),
        enum("DeliveryRisk", "NoRisk", "Small", "Medium", "High", "Crises"),
        text("DeliverySearch1"),
        text("DeliverySearch2"),
        FieldSpec("DeliverySpentTime", "string", unset="00:00:00"),  # recorded: a TimeSpan
        enum("DeliveryStatus", *DELIVERY_STATUSES),
        integer("DeliveryType"),
        moment("DeliveryUpdatedAt"),
        text("DeliveryUpdatedBy"),
        integer("DeliveryUserGroupId"),
        integer("DeliveryWinPercent"),
        integer("DeliveryWinPercent2"),
        boolean("DeliveryWinYesNo"),
        moment("DeliveryWonDate"),
        *family("DeliveryPlus", 1, 20, text),
        *family("DeliveryCustom", 1, 15, text),
        text("DeliveryMemo"),
    ),
)

_QUOTATION_LINE_FIELDS = (
    text("QuotationLineComment"),
    number("QuotationLineCostPrice"),
    moment("QuotationLineCreatedAt"),
    text("QuotationLineCreatedBy"),
    *family("QuotationLineData", 1, 9, text),
    number("QuotationLineDiscount"),
    integer("QuotationLineId"),
    number("QuotationLineListPrice"),
    text("QuotationLineMemo"),
    integer("QuotationLineOpportunityId"),
    integer("QuotationLineOrganisationId"),
    integer("QuotationLinePersonId"),
    number("QuotationLinePrice"),
    number("QuotationLineQuantity"),
    integer("QuotationLineSortOrder"),
    text("QuotationLineStockStatus"),
    moment("QuotationLineUpdatedAt"),
    text("QuotationLineUpdatedBy"),
    number("QuotationLineVatPercentage"),
)

QUOTATION_LINE = DtoSpec("QuotationLineDto", _QUOTATION_LINE_FIELDS)
# what POST/PUT/PATCH take: the line plus the product-register item it was picked from
QUOTATION_LINE_UPDATE = DtoSpec(
    "QuotationLineUpdateDto", (integer("QuotationLineLinkedDataId"), *_QUOTATION_LINE_FIELDS)
)

LINKED_DATA_ITEM = DtoSpec(
    "QuotationLineLinkedDataItemDto",
    (
        number("QuotationLineLinkedDataItemCostPrice"),
        text("QuotationLineLinkedDataItemVatCode"),
        *family("QuotationLineLinkedDataItemData", 1, 9, text),
        text("QuotationLineLinkedDataItemDataMemo"),
        # the product register holds products (recorded example: "Product")
        enum("QuotationLineLinkedDataItemEntityType", *ENTITY_TYPES, unset="Product"),
        integer("QuotationLineLinkedDataItemId"),
        text("QuotationLineLinkedDataItemItemGroup"),
        number("QuotationLineLinkedDataItemPrice"),
    ),
)

_SETUP = "QuotationLineLinkedSetup"
_SETUP_FLAGS = (
    "HighlightVat",
    "UseCostPrice",
    "UseCustomMemo",
    *(f"UseLinkedField{n}" for n in range(1, 10)),
    "UseListPrice",
    "UseQuantity",
    "UseDiscount",
    "UsePriceLine",
    "UsePriceTotal",
    "UseTotalDiscount",
    "UseIntegerPrice",
    "UseIntegerQuantity",
    "UseIntegerDiscount",
    "UseRevenue",
    "UseLineNumber",
    "UseSpacer",
    "UseVat",
    "UseVatPerLine",
)
LINKED_SETUP = DtoSpec(
    "QuotationLineLinkedSetupDto",
    (
        *[text(f"{_SETUP}{n}Label") for n in ("CostPrice", "ListPrice", "Price", "Quantity")],
        integer(f"{_SETUP}FontSize"),
        text(f"{_SETUP}FontFamily"),
        *[boolean(f"{_SETUP}{flag}") for flag in _SETUP_FLAGS],
        text(f"{_SETUP}CostPriceConditionField"),
        text(f"{_SETUP}CostPriceConditionValue"),
        boolean(f"{_SETUP}PastAsCostPrice"),
        enum(
            f"{_SETUP}CostPriceEditMode",
            "Never",
            "Always",
            "WhenListPriceIsZero",
            "WhenItemGroupContainsAsterix",
            "WhenItemGroupContainsAtsign",
            "WhenItemGroupContainsUnderscore",
        ),
        boolean(f"{_SETUP}IsImageEnabled"),
        text(f"{_SETUP}ImageUrl"),
        integer(f"{_SETUP}ImageWidth"),
        integer(f"{_SETUP}ImageHeight"),
        text(f"{_SETUP}CreateDateField"),
        text(f"{_SETUP}UpdateDateField"),
        enum(f"{_SETUP}EntityType", *ENTITY_TYPES),
        *family(f"{_SETUP}Field", 1, 9, integer),
        integer(f"{_SETUP}Id"),
        boolean(f"{_SETUP}IsUniqueValueRequired"),
        enum(f"{_SETUP}LinkMode", "Regular", "Multiselect"),
        enum(f"{_SETUP}LookupMode", "DropdownLists", "FreeTextSearch"),
        integer(f"{_SETUP}MemoField"),
        boolean(f"{_SETUP}UseItemGroup"),
    ),
)

DISPLAY_TYPES = (
    "C",
    "CPL",
    "D",
    "DA",
    "DAT",
    "DI",
    "DT",
    "DTGMT",
    "EMA",
    "GM",
    "HM",
    "HTML",
    "HX",
    "I",
    "IC",
    "IS",
    "L",
    "LOGA",
    "LOGP",
    "M",
    "ML",
    "NONE",
    "PI",
    "R",
    "REV",
    "SD",
    "SDI",
    "T",
    "TELE",
    "TM",
    "UI",
    "KPI",
)

FIELD_METADATA = DtoSpec(
    "FieldMetadataDto",
    (
        text("FieldMetadataDbFieldName"),
        text("FieldMetadataFriendlyFieldName"),
        integer("FieldMetadataId"),
        text("FieldMetadataLabel"),
        integer("FieldMetadataSortOrder"),
        enum("FieldMetadataDisplayType", *DISPLAY_TYPES),
        integer("FieldMetadataTextFieldMaxLength"),
        FieldSpec("FieldMetadataDropdownListData", "array", unset=()),
    ),
)


def hook_dto(name: str, *filters: str) -> DtoSpec:
    """The hook subscription DTO of one entity; only the ``Filter`` values differ."""
    return DtoSpec(
        name,
        (
            enum_array("Filter", *filters),
            moment("CreatedAt"),
            text("CreatedBy"),
            # .NET's default for an enum that is not sent is its first member
            enum("EventType", "Create", "Update", "Delete"),
            integer("Id"),
            boolean("IsEnabled"),
            text("TargetUrl"),
            moment("UpdatedAt"),
            text("UpdatedBy"),
        ),
    )


_OWNER_FILTERS = ("All", "OrganisationOwner", "OrganisationOwner2")
ORGANISATION_HOOK = hook_dto("OrganisationHookDto", "All", "Owner", "Owner2")
PERSON_HOOK = hook_dto("PersonHookDto", *_OWNER_FILTERS)
DELIVERY_HOOK = hook_dto(
    "DeliveryHookDto",
    "All",
    "Responsible",
    "Responsible2",
    "Responsible3",
    "OrganisationOwner",
    "OrganisationOwner2",
)
QUOTATION_LINE_HOOK = hook_dto("QuotationLineHookDto", *_OWNER_FILTERS)
