"""A record Fortnox rejects while the rest sync; a crash between a create and its link."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.engine.ports import Link
from webcrm_fortnox.store import StateDatabase, TenantState

# Fortnox refuses characters outside its allowed set and quotes the value (reference §6.2).
REFUSED_ADDRESS = "Storgatan <1>"


async def test_a_record_fortnox_rejects_is_reported_while_the_rest_sync(
    env: Systems, db: StateDatabase
) -> None:
    good = await env.organisation(OrganisationName="Acme AB")
    bad = await env.organisation(OrganisationName="Berg AB", OrganisationCustom1=REFUSED_ADDRESS)
    await env.customer(Name="Holm AB")
    run = await env.sync(tenant(), db)
    assert run.exit_code == 3
    outcomes = {o.webcrm_id: o.status for o in run.results[0].outcomes}
    assert outcomes[str(good)] is RecordStatus.SYNCED
    assert outcomes[str(bad)] is RecordStatus.FAILED
    assert sorted(c["Name"] for c in await env.customers()) == ["Acme AB", "Holm AB"]
    (error,) = await db.tenant("acme").open_errors()
    assert (error.system, error.record_id) == ("webcrm", str(bad))
    assert error.field == "visiting_address"
    assert error.vendor_code == "2000359"
    assert error.vendor_message == f"Värdet innehåller ej tillåtna tecken. ({REFUSED_ADDRESS})"
    assert error.reason.startswith("Fortnox refused it: ")
    # Still within the change window, the next run tries it again: the same error, counted.
    env.clock.advance(60)
    assert (await env.sync(tenant(), db)).exit_code == 3
    (again,) = await db.tenant("acme").open_errors()
    assert (again.id, again.attempts) == (error.id, 2)
    # Once corrected, `retry` sends it and the error is resolved.
    await env.edit_organisation(bad, OrganisationCustom1="Storgatan 1")
    retried = await env.sync(tenant(), db, mode=Mode.RETRY, retry_error=error.id)
    assert retried.exit_code == 0
    assert len(await env.customers()) == 3
    assert await db.tenant("acme").open_errors() == []


class CrashBeforeLink:
    """A state store that dies once right after a create was sent, before its link is saved."""

    def __init__(self, inner: TenantState) -> None:
        self.inner = inner
        self.tenant = inner.tenant
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def save_link(self, *args: Any, **kwargs: Any) -> Link:
        if kwargs.get("intent_id") is not None and not self.crashed:
            self.crashed = True
            raise RuntimeError("the process died here")
        return await self.inner.save_link(*args, **kwargs)


@pytest.mark.parametrize("created_in", ["fortnox", "webcrm"])
async def test_a_crash_after_a_create_never_duplicates_it(
    env: Systems, db: StateDatabase, created_in: str
) -> None:
    if created_in == "fortnox":
        await env.organisation(OrganisationName="Acme AB", OrganisationTelephone="08-1")
    else:
        await env.customer(Name="Acme AB", Phone1="08-1")
    config = tenant()
    crashing = CrashBeforeLink(db.tenant(config.name))
    async with env.connector.clients(config) as clients:
        from webcrm_fortnox.service import SyncOptions, sync_tenant

        with pytest.raises(RuntimeError, match="died"):
            await sync_tenant(
                config,
                crashing,
                clients.webcrm,
                clients.fortnox,
                SyncOptions(now=clients.now),
            )
    assert crashing.crashed
    assert len(await env.customers()) == len(await env.organisations()) == 1
    # Restarted, the run finds the pending create by its key instead of sending it again.
    env.clock.advance(300)
    restarted = await env.sync(config, db)
    assert restarted.exit_code == 0
    assert len(await env.customers()) == len(await env.organisations()) == 1
    (link,) = await db.tenant(config.name).links("customer")
    (organisation,) = await env.organisations()
    (customer,) = await env.customers()
    assert (link.webcrm_id, link.fortnox_id) == (
        str(organisation["OrganisationId"]),
        customer["CustomerNumber"],
    )
    assert organisation["OrganisationExtraCustom1"] == customer["CustomerNumber"]
    assert await db.tenant(config.name).pending_intents("customer") == []
    await env.reset_stats()
    env.clock.advance(60)
    await env.sync(config, db)
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
