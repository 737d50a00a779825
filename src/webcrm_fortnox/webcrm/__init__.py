"""webCRM: the production REST client (and, in ``emulator``, a faithful emulator of the API).

The client's parts: :mod:`.client` (routes, pages, creates and updates), :mod:`.auth` (login with
the application token), :mod:`.classify` (failed responses to typed errors), :mod:`.models`
(typed DTO views) and :mod:`.queries` (safe ``/Queries`` scripts).
"""

from webcrm_fortnox.webcrm.auth import ApiTokenAuth
from webcrm_fortnox.webcrm.classify import classify
from webcrm_fortnox.webcrm.client import WebcrmClient, limiter_key, webcrm_limiters
from webcrm_fortnox.webcrm.models import (
    Delivery,
    FieldMetadata,
    Hook,
    LinkedDataItem,
    LinkedSetup,
    Organisation,
    Person,
    QuotationLine,
)
from webcrm_fortnox.webcrm.queries import Query, quote

__all__ = [
    "ApiTokenAuth",
    "Delivery",
    "FieldMetadata",
    "Hook",
    "LinkedDataItem",
    "LinkedSetup",
    "Organisation",
    "Person",
    "Query",
    "QuotationLine",
    "WebcrmClient",
    "classify",
    "limiter_key",
    "quote",
    "webcrm_limiters",
]
