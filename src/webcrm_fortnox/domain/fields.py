"""Names of the canonical customer fields, shared by the configuration and the mappings.

A canonical customer is a flat mapping from these names to normalised strings; ``""`` means
blank. Both systems' records are translated into this form, the engine compares and merges in it,
and the write payloads are built from it.
"""

from __future__ import annotations

from typing import Final, Literal

# The specification's list (name, invoice address, phone, website, fax, customer type, customer
# number, visiting address, terms of payment, currency, VAT number), plus the organisation
# number and e-mail that matching and the Fortnox customer card rely on.
CUSTOMER_FIELDS: Final = (
    "name",
    "address1",
    "address2",
    "zip_code",
    "city",
    "country",
    "phone",
    "website",
    "fax",
    "customer_type",
    "customer_number",
    "visiting_address",
    "visiting_zip_code",
    "visiting_city",
    "visiting_country",
    "terms_of_payment",
    "currency",
    "vat_number",
    "organisation_number",
    "email",
)

CustomerType = Literal["company", "private"]
COMPANY: Final = "company"
PRIVATE: Final = "private"

# Fields whose place in webCRM is fixed: the name, the (two-line) invoice address in the one
# multi-line address field, and the customer type that the organisation's Type dropdown encodes.
FIXED_WEBCRM_FIELDS: Final = frozenset({"name", "address1", "address2", "customer_type"})

# The fields a user may place in any webCRM organisation field through ``[tenant.fields]``.
MAPPABLE_FIELDS: Final = tuple(f for f in CUSTOMER_FIELDS if f not in FIXED_WEBCRM_FIELDS)

# Accounting data: Fortnox is the natural system of record when both sides changed them.
ACCOUNTING_FIELDS: Final = frozenset(
    {"customer_type", "terms_of_payment", "currency", "vat_number", "organisation_number"}
)
