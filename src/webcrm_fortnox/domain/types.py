"""The Type filter: which webCRM organisations are customers, and of which kind.

webCRM's organisation Type is a dropdown configured per system. Values are compared without
regard to case and spacing, and a dropdown's ``"NN: label"`` form matches its bare label
(recorded in webCRM's own ERP integration: "webCRM requires the full string in order to set the
value", e.g. ``"07: 7 dage"``), so ``"Customer"`` in the configuration matches
``"01: customer"`` in webCRM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from webcrm_fortnox.domain.fields import COMPANY, PRIVATE
from webcrm_fortnox.domain.normalise import text

if TYPE_CHECKING:
    from webcrm_fortnox.domain.settings import CustomerTypes

_DROPDOWN_PREFIX = re.compile(r"^\d+\s*:\s*")


def type_key(value: str | None) -> str:
    """The comparison key of a Type value: no ``NN:`` prefix, single spaces, case-folded."""
    return _DROPDOWN_PREFIX.sub("", text(value)).casefold()


def _keys(values: Iterable[str]) -> set[str]:
    return {type_key(v) for v in values}


def is_synced_type(org_type: str | None, tenant: CustomerTypes) -> bool:
    """Whether an organisation with this Type syncs with Fortnox."""
    key = type_key(org_type)
    return bool(key) and key in _keys(tenant.customer_types)


def customer_type_of(org_type: str | None, tenant: CustomerTypes) -> str:
    """``private`` for a Type among ``private_customer_types``, else ``company``."""
    return PRIVATE if type_key(org_type) in _keys(tenant.private_customer_types) else COMPANY


def webcrm_type_for(customer_type: str, current: str | None, tenant: CustomerTypes) -> str:
    """The Type to give an organisation so that it holds ``customer_type``.

    An organisation keeps its Type when that already says the right thing (so a "Key Customer"
    stays one); otherwise it gets the configured Type for new customers of that kind.

    Args:
        customer_type: ``company`` or ``private``.
        current: the organisation's Type now, or ``None`` when it is being created.
        tenant: the tenant's configuration.
    """
    if (
        current is not None
        and is_synced_type(current, tenant)
        and customer_type_of(current, tenant) == customer_type
    ):
        return current
    if customer_type == PRIVATE and tenant.private_type_for_new is not None:
        return tenant.private_type_for_new
    return tenant.company_type_for_new


def holds_customer_type(tenant: CustomerTypes) -> bool:
    """Whether webCRM can express private customers at all (some Type is marked private)."""
    return bool(tenant.private_customer_types)
