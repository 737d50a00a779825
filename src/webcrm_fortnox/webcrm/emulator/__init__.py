"""A faithful local emulator of the webCRM REST API (``https://api.webcrm.com``).

``create_app()`` builds the ASGI app that ``webcrm-fortnox emulate webcrm`` serves: several webCRM
systems (one per application token), the Auth, Organisations, Persons, Deliveries, QuotationLines,
product register, FieldsMetadata, Queries and Hooks routes, and the test controls under
``/_emulator/``.
"""

from webcrm_fortnox.webcrm.emulator.app import create_app
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN, WebcrmEmulator

__all__ = ["DEFAULT_API_TOKEN", "WebcrmEmulator", "create_app"]
