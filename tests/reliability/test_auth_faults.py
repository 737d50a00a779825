"""A Fortnox refresh token already spent elsewhere: the tenant pauses cleanly, others go on."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tests.e2e.harness import Systems, tenant
from tests.service.support import browser, code_tenant, keyed_connector
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.service import SyncOptions, run_tenant, run_tenants, sync_tenant
from webcrm_fortnox.service.connect import connect_fortnox
from webcrm_fortnox.service.connections import TenantClients
from webcrm_fortnox.service.runner import TenantRun
from webcrm_fortnox.store import StateDatabase, TenantState
from webcrm_fortnox.store.service import ServiceStore


async def _sync(config: TenantConfig, state: TenantState, clients: TenantClients) -> TenantRun:
    return await sync_tenant(
        config, state, clients.webcrm, clients.fortnox, SyncOptions(now=clients.now)
    )


async def test_a_refresh_token_used_elsewhere_pauses_the_tenant_cleanly(
    env: Systems, db: StateDatabase, tmp_path: Path
) -> None:
    connector = keyed_connector(env, tmp_path / "token.key")
    config = code_tenant(name="spent")
    vault = connector.vault(ServiceStore(db))
    assert vault is not None
    code = await connect_fortnox(
        config, connector, vault, Console(width=200), open_url=browser(env), port=0
    )
    assert code == 0
    grant = await vault.load(config.name)
    assert grant is not None and grant.token.refresh_token is not None
    # Another installation with a copy of the tokens rotates first: ours is spent.
    spent = await env.fortnox_api.post(
        "/oauth-v1/token",
        data={"grant_type": "refresh_token", "refresh_token": grant.token.refresh_token},
        auth=("emulator", "emulator-secret"),
    )
    assert spent.status_code == 200
    await env.organisation(OrganisationName="Acme AB")
    await env.customer(Name="Berg AB")
    env.clock.advance(3700)  # our access token has expired: a refresh is needed
    await env.reset_stats()

    # A service-account tenant of the same companies runs alongside, untouched by the failure.
    healthy = tenant(name="healthy")
    paused, other = await run_tenants([config, healthy], db, connector, _sync)

    assert paused.stopped and paused.exit_code == 1
    assert paused.reason is not None and "connect" in paused.reason.lower(), paused.reason
    assert grant.token.refresh_token not in paused.reason
    assert await db.tenant("spent").links("customer") == []
    assert await db.tenant("spent").pending_intents("customer") == []
    assert other.exit_code == 0, other.reason
    assert sorted(o["OrganisationName"] for o in await env.organisations()) == [
        "Acme AB",
        "Berg AB",
    ]
    assert len(await env.customers()) == 2
    # Paused, not broken: the next run stops the same way and writes nothing.
    await env.reset_stats()
    again = await run_tenant(config, db, connector, _sync)
    assert again.exit_code == 1 and again.reason == paused.reason
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
