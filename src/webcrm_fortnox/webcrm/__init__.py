"""webCRM: the production REST client (and, in ``emulator``, a faithful emulator of the API).

The client's parts: :mod:`.client` (routes, pages, creates and updates), :mod:`.auth` (login with
the application token), :mod:`.classify` (failed responses to typed errors), :mod:`.models`
(typed DTO views) and :mod:`.queries` (safe ``/Queries`` scripts).

Import from the modules themselves: the package imports nothing, so that code which needs only
the typed records (:mod:`.models`) or the client's timings (:mod:`.timing`) does not load the
HTTP stack with them.
"""
