"""A webCRM organisation (OrganisationDto, ``Organisation``-prefixed keys) ⇄ canonical fields.

Which webCRM field holds what comes from the tenant's ``[tenant.fields]`` table; the name, the
invoice address and the customer type have fixed places. Facts copied from the reference
(webcrm-api.md §4.2, §4.3, §5.1):

* Unset strings are ``""``, never ``null``; dropdowns show ``"-- vælg --"`` when unselected.
* ``OrganisationAddress`` is the one (multi-line, ``\\n``) street address field, so the two
  Fortnox address lines are its first line and the rest.
* ``OrganisationCountry`` is free text holding a country *name* in the system's language
  ("Danmark" in the vendor's own test data), never an ISO code.
* There is no e-mail or organisation-number field on organisations; custom fields hold them.
* A dropdown custom field must be written with the option's full ``"NN: label"`` string
  (recorded in webCRM's ERP integration, PowerOffice.md); so a canonical value kept in a
  dropdown is the option's label, and is written as the option whose label equals it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.fields import PRIVATE
from webcrm_fortnox.domain.normalise import (
    COUNTRY_FIELDS,
    country_name,
    display_organisation_number,
    normalise_field,
    text,
)
from webcrm_fortnox.domain.types import (
    customer_type_of,
    holds_customer_type,
    type_key,
    webcrm_type_for,
)
from webcrm_fortnox.domain.webcrm_fields import (
    ADDRESS_FIELD,
    NAME_FIELD,
    TYPE_FIELD,
    UPDATED_AT_FIELD,
)

if TYPE_CHECKING:
    from webcrm_fortnox.domain.settings import CustomerMapping

_ADDRESS_LINES: Final = ("address1", "address2")
COPENHAGEN: Final = ZoneInfo("Europe/Copenhagen")

#: webCRM dropdown field → its option values as stored (``"00: SEK"``), from ``/FieldsMetadata``.
Dropdowns = Mapping[str, Sequence[str]]


def dropdown_label(value: Any) -> str:
    """The label of a stored dropdown value: ``"00: SEK"`` → ``"SEK"``; unselected → ``""``."""
    raw = text(value)
    # An unselected dropdown reads "-- vælg --" or a locale variant of it (reference §4.2).
    if raw.startswith("--"):
        return ""
    return raw.split(":", 1)[1].strip() if ":" in raw and raw.split(":", 1)[0].isdigit() else raw


def dropdown_option(field: str, webcrm_field: str, value: str, options: Sequence[str]) -> str:
    """The stored option whose label is ``value``.

    Raises:
        MappingError: no option has that label.
    """
    for option in options:
        if type_key(option) == type_key(value):
            return option
    raise MappingError(
        f"{value!r} is not an option of the webCRM dropdown {webcrm_field}; add it there "
        f"(options now: {', '.join(dropdown_label(o) for o in options) or 'none'})",
        system="webcrm",
        field=field,
    )


def webcrm_field_map(tenant: CustomerMapping) -> dict[str, str]:
    """Canonical field → webCRM organisation field, for every field webCRM holds."""
    mapping = {"name": NAME_FIELD, "address1": ADDRESS_FIELD, "address2": ADDRESS_FIELD}
    if holds_customer_type(tenant):
        mapping["customer_type"] = TYPE_FIELD
    mapping.update(tenant.fields.mapping())
    return mapping


def held_fields(tenant: CustomerMapping) -> frozenset[str]:
    """The canonical fields an organisation holds under this tenant's configuration.

    The customer type is held only when some Type is marked private: otherwise every synced
    organisation is a company and webCRM cannot say that a customer is a private person.
    """
    return frozenset(webcrm_field_map(tenant))


def split_address(address: Any) -> tuple[str | None, str | None]:
    """``OrganisationAddress`` → (address line 1, address line 2)."""
    lines = str(address or "").splitlines()
    first = text(lines[0]) if lines else ""
    rest = ", ".join(part for part in (text(line) for line in lines[1:]) if part)
    return first or None, rest or None


def join_address(address1: str | None, address2: str | None) -> str:
    """(address line 1, address line 2) → ``OrganisationAddress``."""
    if address2:
        return f"{address1 or ''}\n{address2}"
    return address1 or ""


def organisation_to_customer(
    organisation: Mapping[str, Any], tenant: CustomerMapping, dropdowns: Dropdowns | None = None
) -> dict[str, str | None]:
    """The canonical fields of a webCRM organisation; only the fields it holds are present.

    Args:
        organisation: the OrganisationDto as JSON.
        tenant: the tenant's configuration.
        dropdowns: the dropdown custom fields among the mapped ones, whose values are read as
            their labels.
    """
    language = tenant.webcrm.country_language
    values: dict[str, str | None] = {}
    for field, webcrm_field in webcrm_field_map(tenant).items():
        if field in _ADDRESS_LINES:
            continue
        raw = organisation.get(webcrm_field)
        if dropdowns and webcrm_field in dropdowns:
            raw = dropdown_label(raw)
        if field == "customer_type":
            values[field] = customer_type_of(raw, tenant)
        else:
            values[field] = normalise_field(field, raw, language) or None
    values["address1"], values["address2"] = split_address(organisation.get(ADDRESS_FIELD))
    return values


def webcrm_value(field: str, value: str | None, tenant: CustomerMapping) -> str:
    """The webCRM form of one canonical value (blank is ``""``)."""
    if value is None:
        return ""
    if field in COUNTRY_FIELDS:
        return country_name(value, tenant.webcrm.country_language)
    if field == "organisation_number":
        return display_organisation_number(value)
    return value


def organisation_payload(
    values: Mapping[str, str | None],
    tenant: CustomerMapping,
    *,
    fields: Iterable[str] | None = None,
    current_type: str | None = None,
    dropdowns: Dropdowns | None = None,
) -> dict[str, Any]:
    """The organisation properties that write ``values`` to webCRM.

    Args:
        values: canonical field → value; must hold both address lines when either is written
            (they share one webCRM field), e.g. the record's current fields with the changes
            laid over them.
        tenant: the tenant's configuration (field table, Type values, country language).
        fields: which of ``values`` to write (default: all of them).
        current_type: the organisation's Type now (``None`` when creating one); it is kept
            whenever it already says the right customer type.
        dropdowns: the dropdown custom fields among the mapped ones and their options.

    Returns:
        ``Organisation…`` property → value. Fields webCRM does not hold are left out. A new
        organisation (``current_type`` None) always gets a Type, so that it syncs back.

    Raises:
        MappingError: a value that is not among a dropdown field's options.
    """
    mapping = webcrm_field_map(tenant)
    body: dict[str, Any] = {}
    for field in values if fields is None else fields:
        webcrm_field = mapping.get(field)
        if webcrm_field is None:
            continue
        if field in _ADDRESS_LINES:
            body[ADDRESS_FIELD] = join_address(values.get("address1"), values.get("address2"))
        elif field == "customer_type":
            kind = values.get(field) or "company"
            body[TYPE_FIELD] = webcrm_type_for(kind, current_type, tenant)
        else:
            value = webcrm_value(field, values.get(field), tenant)
            if value and dropdowns and webcrm_field in dropdowns:
                value = dropdown_option(field, webcrm_field, value, dropdowns[webcrm_field])
            body[webcrm_field] = value
    if current_type is None and TYPE_FIELD not in body:
        kind = PRIVATE if values.get("customer_type") == PRIVATE else "company"
        body[TYPE_FIELD] = webcrm_type_for(kind, None, tenant)
    return body


def organisation_modified_at(organisation: Mapping[str, Any]) -> datetime | None:
    """When webCRM says the organisation last changed (``OrganisationUpdatedAt``), if it says.

    The wire form is undocumented (reference §4.2, U3): offsets, ``Z`` and no offset all occur
    in samples; a time without an offset is taken as the server's Copenhagen local time.
    """
    raw = organisation.get(UPDATED_AT_FIELD)
    if isinstance(raw, datetime):
        parsed = raw
    elif not raw or str(raw).startswith("0001-01-01"):
        return None
    else:
        try:
            parsed = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.year == 1:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=COPENHAGEN)
