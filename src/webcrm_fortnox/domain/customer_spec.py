"""The customer entity as the engine sees it: which fields sync, how, and how to match."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from webcrm_fortnox.domain.fields import CUSTOMER_FIELDS
from webcrm_fortnox.domain.webcrm_organisation import held_fields
from webcrm_fortnox.engine.ports import (
    Direction,
    EntitySpec,
    FieldRule,
    MatchKey,
    Policy,
    SourceRecord,
    System,
    Value,
)

if TYPE_CHECKING:
    from webcrm_fortnox.domain.settings import CustomerMapping

ENTITY: Final = "customer"

_DIRECTIONS: Final = {
    "both": Direction.BOTH,
    "to_fortnox": Direction.TO_FORTNOX,
    "to_webcrm": Direction.TO_WEBCRM,
}

_SPACES: Final = re.compile(r"\s+")
_POSTCODES: Final = frozenset({"zip_code", "visiting_zip_code"})


@dataclass(frozen=True)
class PostcodeKey(MatchKey):
    """A match key whose postcodes compare without spaces: "123 45" and "12345" are one
    Swedish postcode, written the way the Post writes it and the way people type it.

    Only matching is looser: the synced value is each system's own, so a person's spelling
    stays where they typed it.
    """

    def value(self, record: SourceRecord) -> tuple[Value, ...] | None:
        values = super().value(record)
        if values is None:
            return None
        return tuple(
            _SPACES.sub("", str(value)) if name in _POSTCODES else value
            for name, value in zip(self.fields, values, strict=True)
        )


#: The issue's matching order: customer number, organisation number, VAT number, then the exact
#: normalised name together with the postcode (spaces in the postcode aside).
MATCH_KEYS: Final = (
    MatchKey("customer number", ("customer_number",)),
    MatchKey("organisation number", ("organisation_number",)),
    MatchKey("VAT number", ("vat_number",)),
    PostcodeKey("name and postcode", ("name", "zip_code")),
)


def synced_fields(tenant: CustomerMapping) -> tuple[str, ...]:
    """The canonical fields both systems hold under this configuration, in canonical order."""
    webcrm = held_fields(tenant)
    return tuple(field for field in CUSTOMER_FIELDS if field in webcrm)


def customer_spec(tenant: CustomerMapping) -> EntitySpec:
    """The engine's description of customers for this tenant."""
    fields = synced_fields(tenant)
    rules = {}
    for field in fields:
        policy = tenant.policy(field)
        rules[field] = FieldRule(
            direction=_DIRECTIONS[policy.direction],
            policy=Policy(policy.conflict),
            blank_overwrites=policy.blank_overwrites,
        )
    # Fortnox refuses a customer without a name; when webCRM owns the numbers, an organisation
    # without one is reported instead of sent (the customer-number ownership rule).
    for_fortnox = (
        ("name", "customer_number") if tenant.customer_number_owner == "webcrm" else ("name",)
    )
    required: dict[System, tuple[str, ...]] = {"fortnox": for_fortnox, "webcrm": ("name",)}
    return EntitySpec(
        entity=ENTITY,
        rules=rules,
        match_keys=tuple(key for key in MATCH_KEYS if set(key.fields) <= set(fields)),
        required_for_create=required,
        unlisted_partner_is_base=True,
    )
