"""Record sources the engine syncs between: each maps one system's records to canonical form.

Customers: :class:`WebcrmOrganisations` and :class:`FortnoxCustomers`;
:func:`customer_sources` builds both for a tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from webcrm_fortnox.engine.adapters.fortnox_customers import FortnoxCustomers
from webcrm_fortnox.engine.adapters.webcrm_organisations import WebcrmOrganisations
from webcrm_fortnox.engine.ports import RecordSource, System

if TYPE_CHECKING:
    from webcrm_fortnox.config.models import TenantConfig
    from webcrm_fortnox.fortnox.client import FortnoxClient
    from webcrm_fortnox.webcrm.client import WebcrmClient


def customer_sources(
    tenant: TenantConfig, webcrm: WebcrmClient, fortnox: FortnoxClient
) -> dict[System, RecordSource]:
    """The customer record sources of one tenant, keyed by system."""
    return {
        "webcrm": WebcrmOrganisations(webcrm, tenant),
        "fortnox": FortnoxCustomers(fortnox, tenant),
    }


__all__ = ["FortnoxCustomers", "WebcrmOrganisations", "customer_sources"]
