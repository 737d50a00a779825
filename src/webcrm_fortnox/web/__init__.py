"""The administrator's page (``webcrm-fortnox admin``): fleet and tenant pages over the store's
read model, actions recorded as requests for whatever runs the tenant.

- :mod:`~webcrm_fortnox.web.app`: the FastAPI app, its pages and fragments.
- :mod:`~webcrm_fortnox.web.data`: everything it reads and records.
- :mod:`~webcrm_fortnox.web.security`: operators, sessions, CSRF, rate limits, headers.
- :mod:`~webcrm_fortnox.web.charts`: the charts, drawn on the server with matplotlib.
- :mod:`~webcrm_fortnox.web.serve`: serving it (``admin``, ``demo``).
"""
