"""What both API clients share: rate limiting, retries and the HTTP core.

Import from the modules themselves (:mod:`.http`, :mod:`.ratelimit`, :mod:`.retry`,
:mod:`.limiters`); the errors they raise are :mod:`webcrm_fortnox.errors`.
"""
