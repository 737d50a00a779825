"""A Fortnox customer (``{"Customer": {...}}`` body, PascalCase keys) ⇄ canonical fields.

Facts copied from the recorded API (reference §2 and §5.1):

* ``CountryCode``/``VisitingCountryCode`` take ISO 3166-1 alpha-2 codes; ``Country`` and
  ``VisitingCountry`` are read-only names derived from them (recorded:
  customers/save_new_with_country_code_SE.yml returns ``"Country": "Sverige"``), so only the codes
  are read and written.
* Unset strings come back as ``null`` or ``""`` (recorded: customers/find_id_1.yml), both blank.
* ``PUT`` is a partial update, ``""`` is ignored and the literal ``"API_BLANK"`` clears a field
  (recorded: invoices/save_old_with_empty_comments.yml; the C# SDK's ApiConstants.BlankValue).
* ``Type`` is ``COMPANY`` or ``PRIVATE`` (default ``COMPANY``).
* A customer's number cannot be changed once it exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.fields import CUSTOMER_FIELDS, PRIVATE
from webcrm_fortnox.domain.normalise import (
    COUNTRY_FIELDS,
    country_codes,
    display_organisation_number,
    normalise_field,
)

#: Sent to clear a field; an empty string would be ignored.
API_BLANK: Final = "API_BLANK"

#: Canonical field → Fortnox customer property.
FORTNOX_FIELDS: Final[Mapping[str, str]] = {
    "name": "Name",
    "address1": "Address1",
    "address2": "Address2",
    "zip_code": "ZipCode",
    "city": "City",
    "country": "CountryCode",
    "phone": "Phone1",
    "website": "WWW",
    "fax": "Fax",
    "customer_type": "Type",
    "customer_number": "CustomerNumber",
    "visiting_address": "VisitingAddress",
    "visiting_zip_code": "VisitingZipCode",
    "visiting_city": "VisitingCity",
    "visiting_country": "VisitingCountryCode",
    "terms_of_payment": "TermsOfPayment",
    "currency": "Currency",
    "vat_number": "VATNumber",
    "organisation_number": "OrganisationNumber",
    "email": "Email",
}
assert set(FORTNOX_FIELDS) == set(CUSTOMER_FIELDS)

#: Where the idempotency key (the webCRM organisation id) is kept on customers created from
#: webCRM. ExternalReference is a free text field that Fortnox never fills by itself.
KEY_FIELD: Final = "ExternalReference"

# Fields that can never be blank in Fortnox: a customer always has a type and a name.
_NEVER_BLANK: Final = frozenset({"customer_type", "name"})


def customer_from_fortnox(customer: Mapping[str, Any]) -> dict[str, str | None]:
    """The canonical fields of a full Fortnox customer (the object inside ``{"Customer": …}``).

    Every canonical field is present: Fortnox holds all of them. Blank values are ``None``.
    """
    return {
        field: normalise_field(field, customer.get(prop)) or None
        for field, prop in FORTNOX_FIELDS.items()
    }


def customer_key(customer: Mapping[str, Any]) -> str | None:
    """The idempotency key a Fortnox customer carries (the webCRM id it was created from)."""
    value = normalise_field("name", customer.get(KEY_FIELD))
    return value or None


def fortnox_value(field: str, value: str | None) -> str:
    """The Fortnox form of one canonical value (never blank; see :func:`customer_payload`).

    Raises:
        MappingError: a country that is not an ISO code, which Fortnox cannot store.
    """
    assert value is not None
    if field == "customer_type":
        return "PRIVATE" if value == PRIVATE else "COMPANY"
    if field in COUNTRY_FIELDS and value not in country_codes():
        raise MappingError(
            f"{value!r} is not a country Fortnox knows; it needs a country such as "
            "'Sverige' or 'SE'",
            system="fortnox",
            field=field,
        )
    if field == "organisation_number":
        return display_organisation_number(value)
    return value


def customer_payload(
    values: Mapping[str, str | None],
    *,
    creating: bool,
    fields: Iterable[str] | None = None,
    send_customer_number: bool = False,
    key: str | None = None,
) -> dict[str, Any]:
    """The body (inside ``{"Customer": …}``) that writes ``values`` to Fortnox.

    Args:
        values: canonical field → value (``None`` clears the field).
        creating: a POST of a new customer (blank values are left out) rather than a partial PUT
            (blank values become ``API_BLANK``).
        fields: which of ``values`` to write (default: all of them).
        send_customer_number: include ``CustomerNumber`` (only on create, when webCRM owns
            customer numbers; Fortnox assigns one otherwise).
        key: the idempotency key to store in :data:`KEY_FIELD` (on create).

    Raises:
        MappingError: a value Fortnox cannot store, or an attempt to renumber a customer.
    """
    body: dict[str, Any] = {}
    for field in values if fields is None else fields:
        if field not in FORTNOX_FIELDS:
            continue
        value = values.get(field)
        if field == "customer_number":
            if not creating:
                raise MappingError(
                    "Fortnox cannot change the number of an existing customer; change it back "
                    "in webCRM, or create a new customer",
                    system="fortnox",
                    field=field,
                )
            if not send_customer_number:
                continue
        if value is None:
            if creating or field in _NEVER_BLANK:
                continue
            body[FORTNOX_FIELDS[field]] = API_BLANK
        elif value.strip().upper() == API_BLANK:
            # Fortnox reads this word as "clear the field", so it can never be stored as text.
            raise MappingError(
                f"the text {value!r} is Fortnox's command to clear a field and cannot be stored "
                "as a value; change it in webCRM",
                system="fortnox",
                field=field,
            )
        else:
            body[FORTNOX_FIELDS[field]] = fortnox_value(field, value)
    if key is not None:
        body[KEY_FIELD] = key
    return body
