"""Record sources the engine syncs between: each maps one system's records to canonical form.

Customers: :class:`WebcrmOrganisations` and :class:`FortnoxCustomers`;
:func:`customer_sources` builds both for a tenant. Articles: :class:`WebcrmProducts` and
:class:`FortnoxArticles`. Documents: :class:`WebcrmDeliveries` and :class:`FortnoxDocuments`;
:func:`document_sources` builds both (given the customer and article links of the run).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from webcrm_fortnox.engine.adapters.articles import FortnoxArticles, WebcrmProducts
from webcrm_fortnox.engine.adapters.common import Announced
from webcrm_fortnox.engine.adapters.documents import (
    FortnoxDocuments,
    LinkIndex,
    LinkSource,
    WebcrmDeliveries,
    fortnox_article_exists,
    planned_customers,
)
from webcrm_fortnox.engine.adapters.fortnox_customers import FortnoxCustomers
from webcrm_fortnox.engine.adapters.webcrm_organisations import WebcrmOrganisations
from webcrm_fortnox.engine.ports import RecordSource, System, utcnow

if TYPE_CHECKING:
    from webcrm_fortnox.config.models import TenantConfig
    from webcrm_fortnox.fortnox.client import FortnoxClient
    from webcrm_fortnox.webcrm.client import WebcrmClient


def customer_sources(
    tenant: TenantConfig,
    webcrm: WebcrmClient,
    fortnox: FortnoxClient,
    *,
    now: Callable[[], datetime] = utcnow,
    announced: Announced | None = None,
) -> tuple[WebcrmOrganisations, FortnoxCustomers]:
    """The customer record sources of one tenant: webCRM's, then Fortnox's (its cursors taken
    from ``now``; see :class:`FortnoxCustomers` on ``announced``)."""
    return (
        WebcrmOrganisations(webcrm, tenant),
        FortnoxCustomers(fortnox, tenant, now=now, announced=announced),
    )


def document_sources(
    tenant: TenantConfig,
    links: LinkSource,
    webcrm: WebcrmClient,
    fortnox: FortnoxClient,
    *,
    now: Callable[[], datetime] | None = None,
    announced: Announced | None = None,
) -> dict[System, RecordSource]:
    """The document record sources of one tenant for one run, keyed by system, given how to
    read the customer and article links its customers and articles left (see
    :class:`Announced` on ``announced``)."""
    documents = (
        FortnoxDocuments(fortnox, tenant, announced=announced)
        if now is None
        else FortnoxDocuments(fortnox, tenant, now=now, announced=announced)
    )
    return {
        "webcrm": WebcrmDeliveries(webcrm, tenant, links, fortnox_article_exists(fortnox)),
        "fortnox": documents,
    }


__all__ = [
    "Announced",
    "FortnoxArticles",
    "FortnoxCustomers",
    "FortnoxDocuments",
    "LinkIndex",
    "LinkSource",
    "WebcrmDeliveries",
    "WebcrmOrganisations",
    "WebcrmProducts",
    "customer_sources",
    "document_sources",
    "planned_customers",
]
