"""Two webCRM organisations carrying the same Fortnox customer number.

What a person expects: the organisation that holds the number first stays (or becomes) linked
to that Fortnox customer; the other is reported as a per-record error that names both, and
nothing is written for it: no new Fortnox customer, and its number is left as the person typed
it, for them to correct.
"""

from __future__ import annotations

from tests.e2e.harness import Systems, tenant
from tests.reliability.checks import World, read_world
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.store import StateDatabase


async def _world(env: Systems, config: TenantConfig, db: StateDatabase) -> World:
    async with env.connector.clients(config) as clients:
        return await read_world(config, clients, db.tenant(config.name))


async def _assert_second_is_reported_and_untouched(
    env: Systems, config: TenantConfig, db: StateDatabase, first: int, second: int
) -> None:
    world = await _world(env, config, db)
    assert world.links == [(str(first), "5000")]
    assert list(world.customers) == ["5000"]  # no customer made from the second
    assert world.organisations[str(second)].fields["customer_number"] == "5000"  # not renumbered
    [error] = [e for e in await db.tenant(config.name).open_errors() if e.record_id == str(second)]
    assert error.system == "webcrm"
    assert str(first) in error.reason, error.reason  # the organisation holding the number


async def test_a_copy_made_after_the_first_was_linked_is_reported_not_written(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    await env.customer(Name="Kund 5000", CustomerNumber="5000")
    first = await env.organisation(OrganisationName="Först AB", OrganisationExtraCustom1="5000")
    assert (await env.sync(config, db)).exit_code == 0
    # A person copies the organisation, number and all.
    second = await env.organisation(OrganisationName="Kopia AB", OrganisationExtraCustom1="5000")
    env.clock.advance(61)
    await env.reset_stats()

    run = await env.sync(config, db)

    assert run.exit_code == 3
    assert (await env.writes())["fortnox"] == 0
    await _assert_second_is_reported_and_untouched(env, config, db, first, second)


async def test_two_organisations_with_one_number_in_the_same_run(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant()
    await env.customer(Name="Kund 5000", CustomerNumber="5000")
    first = await env.organisation(OrganisationName="Först AB", OrganisationExtraCustom1="5000")
    second = await env.organisation(OrganisationName="Kopia AB", OrganisationExtraCustom1="5000")

    run = await env.sync(config, db)

    assert not run.stopped
    assert run.exit_code == 3  # the second one needs a person
    await _assert_second_is_reported_and_untouched(env, config, db, first, second)
    env.clock.advance(61)
    assert (await env.sync(config, db)).exit_code == 3
    await _assert_second_is_reported_and_untouched(env, config, db, first, second)


async def test_with_webcrm_numbering_the_second_is_refused_by_fortnox(
    env: Systems, db: StateDatabase
) -> None:
    config = tenant(customer_number_owner="webcrm")
    first = await env.organisation(OrganisationName="Först AB", OrganisationExtraCustom1="5000")
    second = await env.organisation(OrganisationName="Kopia AB", OrganisationExtraCustom1="5000")

    run = await env.sync(config, db)

    assert run.exit_code == 3
    world = await _world(env, config, db)
    assert world.links == [(str(first), "5000")]
    assert list(world.customers) == ["5000"]
    [error] = await db.tenant(config.name).open_errors()
    assert (error.record_id, error.vendor_code) == (str(second), "2000637")
    assert "customer number is taken" in error.reason
