"""Typed views of webCRM's DTOs, tolerant of what the real API does on the wire.

webCRM never sends ``null`` for an empty value; it sends a type-specific placeholder. The field
types below turn those placeholders into ``None`` on reading and back into the placeholder on
writing, so code above this module only ever sees ``None`` for "not set":

=============  ==========================================  ===============================
type           read as ``None``                            written for ``None``
=============  ==========================================  ===============================
``Text``       ``""``                                      ``""``
``Choice``     ``""``, ``"-- vælg --"`` and locale         ``""``
               variants such as ``"-- Vælg ---"``
``Ref``        ``0`` (a foreign key to nothing)            ``0``
``Timestamp``  ``0001-01-01T00:00:00`` with any offset      ``0001-01-01T00:00:00``
=============  ==========================================  ===============================

Timestamps arrive with an offset, with ``Z`` or with none; all are returned timezone-aware. A
naive one is read in the time zone passed as validation context ``{"naive_tz": tz}`` and in
Copenhagen time otherwise (webCRM is Danish and its recorded samples carry +01:00/+02:00).

Every model keeps the fields it does not declare (``extra="allow"``): the real API adds fields
without notice, and an update must send them back unchanged. The numbered families (``Custom1..15``,
``Plus1..20``, ``ExtraCustom1..8``, ``Data1..9``) are read through accessors such as
:meth:`Organisation.extra_custom`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WrapValidator,
    model_validator,
)
from pydantic.alias_generators import to_pascal

WEBCRM_TZ = ZoneInfo("Europe/Copenhagen")
UNSET_TIMESTAMP = "0001-01-01T00:00:00"

# recorded: unselected dropdowns read "-- vælg --" or "-- Vælg ---" (webcrm-api.md §4.2)
_PLACEHOLDER_CHOICE = re.compile(r"^\s*-{2,}\s*[^-].*?\s*-{2,}\s*$")


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def _choice_to_none(value: Any) -> Any:
    if value == "" or (isinstance(value, str) and _PLACEHOLDER_CHOICE.match(value)):
        return None
    return value


def _ref_to_none(value: Any) -> Any:
    # recorded: numeric strings are accepted for ids ("OrganisationId": "0"), so read them too
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    return None if value in (0, "", None) else value


def parse_timestamp(value: str, naive_tz: tzinfo = WEBCRM_TZ) -> datetime | None:
    """Parse a webCRM timestamp; ``None`` for the "unset" ``0001-01-01`` value.

    Args:
        value: ISO 8601 with an offset, ``Z`` or none; up to 7 fractional digits (.NET "O").
        naive_tz: the zone a timestamp without offset is in.
    """
    text = value.strip()
    if not text or text.startswith("0001-01-01"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # .NET writes 7 fractional digits
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=naive_tz)


def format_timestamp(value: datetime | None) -> str:
    """A timestamp as webCRM writes it: seconds precision, offset when known."""
    if value is None:
        return UNSET_TIMESTAMP
    return value.replace(microsecond=0).isoformat()


def _timestamp(value: Any, handler: Any, info: ValidationInfo) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        context = info.context if isinstance(info.context, Mapping) else {}
        return parse_timestamp(value, context.get("naive_tz", WEBCRM_TZ))
    result: datetime | None = handler(value)
    if result is not None and result.tzinfo is None:
        result = result.replace(tzinfo=WEBCRM_TZ)
    return result


Text = Annotated[
    str | None,
    BeforeValidator(_blank_to_none),
    PlainSerializer(lambda v: "" if v is None else v, return_type=str),
]
Choice = Annotated[
    str | None,
    BeforeValidator(_choice_to_none),
    PlainSerializer(lambda v: "" if v is None else v, return_type=str),
]
Ref = Annotated[
    int | None,
    BeforeValidator(_ref_to_none),
    PlainSerializer(lambda v: 0 if v is None else v, return_type=int),
]
Timestamp = Annotated[
    datetime | None,
    WrapValidator(_timestamp),
    PlainSerializer(format_timestamp, return_type=str),
]
# recorded: Plus fields were typed object, string and number over the years (webcrm-api.md §4.3)
Scalar = str | int | float | bool | None


def wire_names(prefix: str) -> ConfigDict:
    """Model settings for a DTO whose wire names are ``prefix`` + the PascalCase field name."""
    return ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        alias_generator=lambda name: prefix + to_pascal(name),
    )


class WebcrmModel(BaseModel):
    """Base of every DTO view: keeps undeclared fields and knows its wire-name prefix."""

    prefix: ClassVar[str] = ""
    model_config = wire_names(prefix)

    def wire(self, name: str) -> Any:
        """The value of wire field ``name`` as read, declared or not (``None`` when absent)."""
        for attr, info in type(self).model_fields.items():
            if info.alias == name:
                return self.model_dump(by_alias=True, include={attr}).get(name)
        return (self.model_extra or {}).get(name)

    def to_wire(self) -> dict[str, Any]:
        """The fields that were set (read or assigned), as webCRM expects them in a request body."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def _family_text(self, family: str, n: int, size: int) -> str | None:
        if not 1 <= n <= size:
            raise ValueError(f"{self.prefix}{family} runs from 1 to {size}, not {n}")
        value = self.wire(f"{self.prefix}{family}{n}")
        if isinstance(value, str):
            return None if _choice_to_none(value) is None else value
        return None if value is None else str(value)


class _Audited(WebcrmModel):
    """The audit stamps webCRM sets on every write (``<Prefix>CreatedAt`` and so on)."""

    created_at: Timestamp = None
    created_by: Text = None
    updated_at: Timestamp = None
    updated_by: Text = None


class _CustomFields(_Audited):
    def custom(self, n: int) -> str | None:
        """``Custom<n>`` (1..15): a configured field, a string; dropdowns as ``"NN: label"``."""
        return self._family_text("Custom", n, 15)

    def plus(self, n: int) -> Scalar:
        """``Plus<n>`` (1..20), as sent (a string in the 2019 spec, other scalars earlier)."""
        if not 1 <= n <= 20:
            raise ValueError(f"{self.prefix}Plus runs from 1 to 20, not {n}")
        value: Scalar = self.wire(f"{self.prefix}Plus{n}")
        return None if value == "" else value


class Organisation(_CustomFields):
    """``OrganisationDto``: a company; webCRM's side of a Fortnox customer."""

    prefix: ClassVar[str] = "Organisation"
    model_config = wire_names(prefix)

    id: int = 0
    name: Text = None
    address: Text = None
    post_code: Text = None
    city: Text = None
    state: Text = None
    country: Text = None
    telephone: Text = None
    fax: Text = None
    www: Text = None
    domain: Text = None
    vat_number: Text = None
    vat_country: Text = None
    vat_group: Text = None
    vat_status: Text = None
    vat_verified_at: Timestamp = None
    type: Choice = None
    status: Choice = None
    industry: Choice = None
    division_name: Text = None
    alert: Text = None
    comment: Text = None
    memo: Text = None
    owner: Ref = None
    owner2: Ref = None
    territory_id: Ref = None
    approval_status: int = 0
    no_ads: bool = False
    compare_name: Text = None
    telephone_search: Text = None
    last_item_type: Choice = None
    last_item_updated_at: Timestamp = None

    def extra_custom(self, n: int) -> str | None:
        """``ExtraCustom<n>`` (1..8): the fields webCRM can flag unique; ERP ids live here."""
        return self._family_text("ExtraCustom", n, 8)


class Person(_CustomFields):
    """``PersonDto``: a contact person of an organisation."""

    prefix: ClassVar[str] = "Person"
    model_config = wire_names(prefix)

    id: int = 0
    organisation_id: Ref = None
    first_name: Text = None
    middle_name: Text = None
    last_name: Text = None
    name: Text = None
    title: Text = None
    salutation: Text = None
    email: Text = None
    email2: Text = None
    direct_phone: Text = None
    mobile_phone: Text = None
    status: Choice = None
    birthday: Timestamp = None
    comment: Text = None
    memo: Text = None


class Delivery(_CustomFields):
    """``DeliveryDto``: a sale after it was won; webCRM's side of a Fortnox order or invoice."""

    prefix: ClassVar[str] = "Delivery"
    model_config = wire_names(prefix)

    id: int = 0
    number: Text = None
    organisation_id: Ref = None
    person_id: Ref = None
    status: Choice = None
    description: Text = None
    note: Text = None
    comment: Text = None
    memo: Text = None
    order_date: Timestamp = None
    won_date: Timestamp = None
    next_follow_up: Timestamp = None
    order_value: float = 0.0
    order_gm_value: float = 0.0
    discount: float = 0.0
    currency_name: Text = None
    product: Choice = None
    product_id: Ref = None
    type: int = 0
    risk: Choice = None
    percent: int = 0
    responsible: Ref = None
    assigned_to: Ref = None
    assigned_to2: Ref = None
    erp_id: Text = None
    erp_status: Choice = None
    erp_sync_date_time: Timestamp = None
    erp_read_only: Scalar = None

    def opportunity_custom(self, n: int) -> str | None:
        """``OpportunityCustom<n>`` (1..15): the opportunity's custom fields on the delivery."""
        return self._family_text("OpportunityCustom", n, 15)


class QuotationLine(_Audited):
    """``QuotationLineDto``/``QuotationLineUpdateDto``: one line of a delivery or opportunity.

    A line belongs to a delivery through ``opportunity_id``: deliveries and opportunities share
    one id sequence (recorded: the lines of delivery 158 carry ``QuotationLineOpportunityId: 158``).
    """

    prefix: ClassVar[str] = "QuotationLine"
    model_config = wire_names(prefix)

    id: int = 0
    opportunity_id: Ref = None
    organisation_id: Ref = None
    person_id: Ref = None
    linked_data_id: Ref = None
    quantity: float = 0.0
    price: float = 0.0
    list_price: float = 0.0
    cost_price: float = 0.0
    discount: float = 0.0
    vat_percentage: float = 0.0
    sort_order: int = 0
    stock_status: Text = None
    comment: Text = None
    memo: Text = None

    def data(self, n: int) -> str | None:
        """``Data<n>`` (1..9): copied from the product register item (item number, name...)."""
        return _dash_to_none(self._family_text("Data", n, 9))


def _dash_to_none(value: str | None) -> str | None:
    # recorded: empty Data fields are refused, so integrations write "-" for "nothing" (§4.4)
    return None if value == "-" else value


_QUERY_PREFIX = "LinkedDataItem"


class LinkedDataItem(WebcrmModel):
    """``QuotationLineLinkedDataItemDto``: one item of the product register (the article list).

    Also reads the rows of ``SELECT * FROM LinkedData``, whose names lack the ``QuotationLine``
    part (recorded: ``LinkedDataItemData1`` in the official integration's queries).
    """

    prefix: ClassVar[str] = "QuotationLineLinkedDataItem"
    model_config = wire_names(prefix)

    id: int = 0
    entity_type: Scalar = None
    data_memo: Text = None
    item_group: Text = None
    price: float | None = None
    cost_price: float | None = None
    vat_code: Text = None

    @model_validator(mode="before")
    @classmethod
    def _from_query_row(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {
                ("QuotationLine" + key if key.startswith(_QUERY_PREFIX) else key): value
                for key, value in data.items()
            }
        return data

    def data(self, n: int) -> str | None:
        """``Data<n>`` (1..9); the meaning of each is configured in :class:`LinkedSetup`."""
        return _dash_to_none(self._family_text("Data", n, 9))


class LinkedSetup(WebcrmModel):
    """``QuotationLineLinkedSetupDto``: how the product register is configured."""

    prefix: ClassVar[str] = "QuotationLineLinkedSetup"
    model_config = wire_names(prefix)

    id: int = 0
    entity_type: Scalar = None
    is_unique_value_required: bool = False
    use_item_group: bool = False
    use_cost_price: bool = False
    use_list_price: bool = False
    use_quantity: bool = False
    use_discount: bool = False
    use_vat: bool = False
    use_vat_per_line: bool = False
    price_label: Text = None
    cost_price_label: Text = None
    list_price_label: Text = None
    quantity_label: Text = None
    link_mode: Choice = None
    lookup_mode: Choice = None
    memo_field: int = 0

    def uses_data(self, n: int) -> bool:
        """Whether ``Data<n>`` is in use (``UseLinkedField<n>``)."""
        return self._numbered("UseLinkedField", n) is True

    def data_field(self, n: int) -> int:
        """``Field<n>``: the field id that ``Data<n>`` is configured to hold (0 when none)."""
        value = self._numbered("Field", n)
        return value if isinstance(value, int) else 0

    def _numbered(self, family: str, n: int) -> Any:
        if not 1 <= n <= 9:
            raise ValueError(f"{self.prefix}{family} runs from 1 to 9, not {n}")
        return self.wire(f"{self.prefix}{family}{n}")


class DropdownItem(BaseModel):
    """One choice of a dropdown field: ``{"Text", "Value"}``."""

    model_config = wire_names("")

    text: str = ""
    value: str = ""


class FieldMetadata(WebcrmModel):
    """``FieldMetadataDto``: label, type and dropdown values of one field (``/FieldsMetadata``)."""

    prefix: ClassVar[str] = "FieldMetadata"
    model_config = wire_names(prefix)

    id: int = 0
    db_field_name: Text = None
    friendly_field_name: Text = None
    label: Text = None
    sort_order: int = 0
    display_type: Text = None
    text_field_max_length: int = 0
    dropdown_list_data: list[DropdownItem] = Field(default_factory=list)


class Hook(WebcrmModel):
    """``<Entity>HookDto``: a webhook subscription of the calling token (names carry no prefix)."""

    prefix: ClassVar[str] = ""
    model_config = wire_names(prefix)

    id: int = 0
    target_url: str = ""
    event_type: str = "Update"
    filter: list[str] = Field(default_factory=lambda: ["All"])
    is_enabled: bool = True
    created_at: Timestamp = None
    created_by: str | None = None
    updated_at: Timestamp = None
    updated_by: str | None = None


M = TypeVar("M", bound=WebcrmModel)


@dataclass(frozen=True)
class Kind(Generic[M]):
    """How one entity appears in the API.

    Attributes:
        model: its DTO view.
        path: the collection route.
        table: its ``/Queries`` table, when it has one.
        paged: whether the collection takes ``Page``/``Size`` (the product register does not).
        refusable: whether a system may refuse to list its table through ``/Queries`` (a 400),
            which the client then takes as "this system cannot" and stops asking.
    """

    model: type[M]
    path: str
    table: str | None
    paged: bool = True
    refusable: bool = False

    @property
    def prefix(self) -> str:
        return self.model.prefix

    @property
    def id_field(self) -> str:
        return f"{self.prefix}Id"

    @property
    def updated_field(self) -> str:
        return f"{self.prefix}UpdatedAt"


ORGANISATION = Kind(Organisation, "Organisations", "Organisation")
PERSON = Kind(Person, "Persons", "Person")
DELIVERY = Kind(Delivery, "Deliveries", "Delivery")
# Not among the tables reference §7 confirms, though §8.2 has ``/Queries`` on ``XUpdatedAt`` work
# for every entity: a client must take a 400 on it as "this system cannot list line changes".
QUOTATION_LINE = Kind(QuotationLine, "QuotationLines", "QuotationLine", refusable=True)
PRODUCT_REGISTER = Kind(LinkedDataItem, "QuotationLines/LinkedData", None, paged=False)

# The entities whose changes are read through /Queries (webcrm-api.md §7; lines see above).
CHANGE_TRACKED: Mapping[str, Kind[Any]] = MappingProxyType(
    {kind.prefix.lower(): kind for kind in (ORGANISATION, PERSON, DELIVERY, QUOTATION_LINE)}
)
