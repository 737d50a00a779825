"""Fortnox API v3: the async client the sync engine uses, and (in ``emulator``) a faithful stand-in.

The client works against the real API and the emulator alike; only :class:`FortnoxUrls` differ.

- :class:`FortnoxClient`: REST resources as collections (customers, articles, orders, invoices,
  terms of payment, currencies, units, price lists, prices, company information), a page
  iterator, ``changed_since`` over ``lastmodified`` and exact-match search.
- :mod:`~webcrm_fortnox.fortnox.auth`: service accounts (``client_credentials``) and the
  authorization-code flow with rotating refresh tokens.
- :func:`fortnox_limiters` and :func:`limiter_key`: one client-side limiter per client id and
  tenant, shared through a :class:`~webcrm_fortnox.transport.limiters.LimiterRegistry`.
- :class:`EventStream`: the WebSocket change feed, resuming from stored offsets.
- :mod:`~webcrm_fortnox.fortnox.models`: typed records.

Every failure is raised as one of the errors of :mod:`webcrm_fortnox.errors`, sorted by
:class:`~webcrm_fortnox.fortnox.classify.FortnoxClassifier`, carrying the Fortnox code, the
Swedish message and an English explanation::

    ApiError                       any failed call: system, status, code, vendor_message, field
    ├── TransientError             5xx, HTML "API down" pages, timeouts, dropped connections;
    │   │                          retried with backoff (a create only when provably not sent)
    │   └── RateLimited            429; the shared limiter is paused, then the call is retried
    ├── AuthError
    │   ├── AuthExpired            401 {"message":"unauthorized"}: token renewed once, then raised
    │   └── ReconnectNeeded        invalid_grant / invalid_client from /oauth-v1/token
    ├── PermissionDenied           403, or codes 2000663, 2001101, 2001103, 2001339
    ├── NotFound                   404 (2000433 customer, 2000428 article, 2000434 invoice, …)
    └── ValidationError            other 4xx: the content was refused; never retried as is
        └── BookedInvoiceError     a write to a booked invoice (configured code, or a 400 on an
                                   invoice that reads back as booked)

Import from the modules themselves: the package imports nothing, so that code which needs only
the typed records (:mod:`.models`) does not load the HTTP stack with them.
"""
