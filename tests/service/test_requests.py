"""Admin requests: recorded while nothing runs, carried out by ``run`` once it does, with their
outcome; against both emulators on loopback."""

from __future__ import annotations

from tests.service.live import Live, eventually, quick, running
from webcrm_fortnox.service.daemon import SyncService
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.queries import ReadModel
from webcrm_fortnox.store.registry import TenantRegistry
from webcrm_fortnox.store.registry import TenantState as RegistryState
from webcrm_fortnox.store.requests import AdminRequest, AdminRequests, RequestKind, RequestState


async def settled(db: StateDatabase, *requests: AdminRequest) -> bool:
    page = await ReadModel(db).requests(state=RequestState.PENDING.value)
    running = await ReadModel(db).requests(state=RequestState.RUNNING.value)
    waiting = {r.id for r in [*page.rows, *running.rows]}
    return not waiting & {r.id for r in requests}


async def test_requests_recorded_while_nothing_runs_are_carried_out_once_run_starts(
    env: Live, db: StateDatabase
) -> None:
    config = env.tenant(field_policy={"phone": {"conflict": "manual"}})
    organisation = await env.systems.organisation(OrganisationName="Acme AB")
    await env.systems.organisation(OrganisationName="Berg AB", OrganisationCustom1="Gata <1>")
    assert (await env.systems.sync(config, db)).exit_code == 3  # Berg AB is refused
    (customer,) = await env.systems.customers()
    env.systems.clock.advance(60)
    await env.systems.edit_organisation(organisation, OrganisationTelephone="1")
    await env.systems.edit_customer(customer["CustomerNumber"], Phone1="2")
    assert (await env.systems.sync(config, db)).exit_code == 3  # the phone conflict waits
    model = ReadModel(db)
    (error,) = (await model.errors(tenant=config.name)).rows
    (conflict,) = (await model.conflicts(tenant=config.name, open_only=True)).rows
    requests = AdminRequests(db)
    take = await requests.record(
        config.name,
        RequestKind.TAKE,
        {"conflict_id": conflict.conflict.id, "side": "fortnox"},
        "ops@example.com",
    )
    retry = await requests.record(
        config.name, RequestKind.RETRY, {"error_ids": [error.error.id]}, "ops@example.com"
    )
    unknown = await requests.record(
        config.name, RequestKind.ACCEPT, {"proposal_id": 999}, "ops@example.com"
    )
    elsewhere = await requests.record(
        config.name, RequestKind.RETRY, {"error_ids": [error.error.id + 99]}, "ops@example.com"
    )
    pause = await requests.record(config.name, RequestKind.PAUSE, {}, "ops@example.com")
    assert not await settled(db, take, retry, unknown, elsewhere, pause)  # nothing runs: they wait

    service = SyncService([config], db, env.connector(), quick(feed=False))
    async with running(service):
        everything = (take, retry, unknown, elsewhere, pause)
        await eventually(lambda: settled(db, *everything), "requests carried out")

    done = {r.id: r for r in (await model.requests(tenant=config.name)).rows}
    assert (done[take.id].state, done[take.id].outcome) == (
        RequestState.DONE,
        f"conflict {conflict.conflict.id} (customer phone) settled: Fortnox's value kept on both "
        "sides",
    )
    assert (await env.systems.organisation_data(organisation))["OrganisationTelephone"] == "2"
    assert (await model.conflicts(tenant=config.name, open_only=True)).total == 0
    # The record is as it was, so Fortnox refuses it again: the retry ran, and says so.
    retried = done[retry.id]
    assert (retried.state, retried.outcome) == (RequestState.DONE, "retried: 1 failed")
    (again,) = (await model.errors(tenant=config.name)).rows
    assert again.error.attempts == error.error.attempts + 1
    assert done[unknown.id].state is RequestState.FAILED
    assert "no match proposal 999" in (done[unknown.id].outcome or "")
    assert (done[elsewhere.id].state, done[elsewhere.id].outcome) == (
        RequestState.FAILED,
        f"no error {error.error.id + 99} of tenant 'acme'",
    )
    assert done[pause.id].state is RequestState.FAILED
    assert "configuration file" in (done[pause.id].outcome or "")
    assert all(r.claimed_by and r.done_at for r in done.values())


async def test_a_registered_tenant_paused_by_request_is_resumed_by_request(
    env: Live, db: StateDatabase
) -> None:
    connector = env.connector()
    await Registry(db, connector.keys).register([env.tenant()], update=False)
    requests = AdminRequests(db)
    service = SyncService([], db, connector, quick(registry_poll=0.05, feed=False))
    async with running(service):
        await eventually(lambda: _true("acme" in service.workers), "the tenant started")
        pause = await requests.record("acme", RequestKind.PAUSE, {"reason": "audit"}, "ops")
        await eventually(lambda: _true("acme" not in service.workers), "the tenant paused")
        row = await TenantRegistry(db).row("acme")
        assert row is not None and (row.state, row.reason) == (RegistryState.PAUSED, "audit")

        resume = await requests.record("acme", RequestKind.RESUME, {}, "ops")
        await eventually(lambda: _true("acme" in service.workers), "the tenant resumed")

    outcomes = {r.id: (r.state, r.outcome) for r in (await ReadModel(db).requests()).rows}
    assert outcomes[pause.id] == (RequestState.DONE, "acme: paused")
    assert outcomes[resume.id] == (RequestState.DONE, "acme: active")


async def _true(value: bool) -> bool:
    return value
