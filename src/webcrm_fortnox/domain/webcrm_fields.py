"""Which webCRM organisation fields may hold a canonical customer field.

From OrganisationDto in webCRM's 2019 OpenAPI document: the standard text fields, and the
custom families (``OrganisationCustom1..15``, ``OrganisationExtraCustom1..8``,
``OrganisationPlus1..20``, ``OrganisationXText1..8``, ``OrganisationXMemo1..2``) that exist only
once an administrator has configured them, which is why they are checked against
``/FieldsMetadata`` before a first sync.
"""

from __future__ import annotations

import re
from typing import Final

# Standard string fields of OrganisationDto that a customer field may be mapped to.
# OrganisationCurrencyName is not in the 2019 document; it was seen in 2026 traffic (a Make.com
# flow), so it is allowed for systems that have it.
STANDARD_TEXT_FIELDS: Final = frozenset(
    {
        "OrganisationPostCode",
        "OrganisationCity",
        "OrganisationCountry",
        "OrganisationState",
        "OrganisationTelephone",
        "OrganisationFax",
        "OrganisationWww",
        "OrganisationDomain",
        "OrganisationVatNumber",
        "OrganisationAlert",
        "OrganisationComment",
        "OrganisationDivisionName",
        "OrganisationMemo",
        "OrganisationCurrencyName",
    }
)

# Fields whose meaning is fixed by the customer mapping itself.
NAME_FIELD: Final = "OrganisationName"
ADDRESS_FIELD: Final = "OrganisationAddress"
TYPE_FIELD: Final = "OrganisationType"
ID_FIELD: Final = "OrganisationId"
UPDATED_AT_FIELD: Final = "OrganisationUpdatedAt"
RESERVED_FIELDS: Final = frozenset({NAME_FIELD, ADDRESS_FIELD, TYPE_FIELD})

_CUSTOM = re.compile(
    r"^Organisation(?:"
    r"Custom(?:[1-9]|1[0-5])"
    r"|ExtraCustom[1-8]"
    r"|Plus(?:[1-9]|1[0-9]|20)"
    r"|XText[1-8]"
    r"|XMemo[12]"
    r")$"
)


def is_custom_field(name: str) -> bool:
    """Whether ``name`` is one of the custom-field families an administrator configures."""
    return bool(_CUSTOM.match(name))


def is_mappable_field(name: str) -> bool:
    """Whether a canonical field may be kept in the webCRM field ``name``."""
    return name in STANDARD_TEXT_FIELDS or is_custom_field(name)
