"""Customer-number ownership and the Type filter, end to end."""

from __future__ import annotations

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.store import StateDatabase


def statuses(run: object) -> dict[str | None, RecordStatus]:
    """webCRM id → how its record ended, over every entity of a tenant run."""
    return {o.webcrm_id: o.status for r in run.results for o in r.outcomes}  # type: ignore[attr-defined]


async def test_fortnox_owns_numbers_and_writes_them_back(env: Systems, db: StateDatabase) -> None:
    # A number typed into webCRM is not sent: Fortnox assigns its own, which replaces it.
    organisation = await env.organisation(
        OrganisationName="Acme AB", OrganisationExtraCustom1="K-7"
    )
    assert (await env.sync(tenant(customer_number_owner="fortnox"), db)).exit_code == 0
    (customer,) = await env.customers()
    assert customer["CustomerNumber"] == "1"
    data = await env.organisation_data(organisation)
    assert data["OrganisationExtraCustom1"] == "1"


async def test_webcrm_owns_numbers_and_one_without_is_reported_not_sent(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant(customer_number_owner="webcrm")
    numbered = await env.organisation(OrganisationName="Acme AB", OrganisationExtraCustom1="K-100")
    unnumbered = await env.organisation(OrganisationName="Berg AB")
    run = await env.sync(config, db)
    assert run.exit_code == 3
    assert [c["CustomerNumber"] for c in await env.customers()] == ["K-100"]
    assert statuses(run)[str(numbered)] is RecordStatus.SYNCED
    assert statuses(run)[str(unnumbered)] is RecordStatus.FAILED
    (error,) = await db.tenant(config.name).open_errors()
    assert (error.system, error.record_id, error.field) == (
        "webcrm",
        str(unnumbered),
        "customer_number",
    )
    assert "customer_number is empty in webCRM and is required" in error.reason
    # Once a number is entered, the next run sends it and the error is resolved.
    env.clock.advance(60)
    await env.edit_organisation(unnumbered, OrganisationExtraCustom1="K-101")
    assert (await env.sync(config, db)).exit_code == 0
    assert sorted(c["CustomerNumber"] for c in await env.customers()) == ["K-100", "K-101"]
    assert await db.tenant(config.name).open_errors() == []


async def test_only_organisations_of_a_customer_type_are_sent(
    env: Systems, db: StateDatabase
) -> None:
    await env.organisation(OrganisationName="Kund AB", OrganisationType="Customer")
    untyped = await env.organisation(OrganisationName="Okänd AB", OrganisationType="")
    prospect = await env.organisation(OrganisationName="Kanske AB", OrganisationType="Prospect")
    run = await env.sync(tenant(), db)
    assert run.exit_code == 0  # exclusions by configuration are not failures
    assert [c["Name"] for c in await env.customers()] == ["Kund AB"]
    assert statuses(run)[str(untyped)] is RecordStatus.EXCLUDED
    assert statuses(run)[str(prospect)] is RecordStatus.EXCLUDED


async def test_an_organisation_leaving_the_types_stops_syncing_and_nothing_is_deleted(
    env: Systems, db: StateDatabase
) -> None:
    organisation = await env.organisation(OrganisationName="Kund AB", OrganisationTelephone="1")
    await env.sync(tenant(), db)
    (customer,) = await env.customers()
    env.clock.advance(60)
    await env.edit_organisation(
        organisation, OrganisationType="Supplier", OrganisationTelephone="2"
    )
    run = await env.sync(tenant(), db)
    assert run.exit_code == 0
    assert statuses(run)[str(organisation)] is RecordStatus.EXCLUDED
    (outcome,) = run.results[0].outcomes
    assert "Supplier" in (outcome.detail or "")
    # Nothing deleted, nothing more synced.
    still = await env.customer_data(customer["CustomerNumber"])
    assert still["Phone1"] == "1"
    assert len(await env.customers()) == 1
    links = await db.tenant("acme").links("customer")
    assert [(link.webcrm_id, link.fortnox_id) for link in links] == [
        (str(organisation), customer["CustomerNumber"])
    ]
