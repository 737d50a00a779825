"""The product around the engine: each tenant's clients, state and runs, and running them all.

Typical use (what ``webcrm-fortnox sync --once`` does)::

    connector = Connector()                          # one per process
    async with open_state(config.state.url) as db:
        runs = await run_tenants(config.tenant, db, connector, task)
"""

from webcrm_fortnox.service.connections import (
    Connector,
    NotConnectedError,
    SystemTime,
    TenantClients,
    TimeSource,
)
from webcrm_fortnox.service.runner import (
    SyncOptions,
    TenantRun,
    combined_exit_code,
    match_tenant,
    sync_tenant,
)
from webcrm_fortnox.service.tenants import (
    StateStoreError,
    UnknownTenantError,
    open_state,
    run_tenant,
    run_tenants,
    select_tenants,
)

__all__ = [
    "Connector",
    "NotConnectedError",
    "StateStoreError",
    "SyncOptions",
    "SystemTime",
    "TenantClients",
    "TenantRun",
    "TimeSource",
    "UnknownTenantError",
    "combined_exit_code",
    "match_tenant",
    "open_state",
    "run_tenant",
    "run_tenants",
    "select_tenants",
    "sync_tenant",
]
