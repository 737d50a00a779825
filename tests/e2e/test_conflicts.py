"""A field changed on both sides since the last sync, under each conflict policy."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.store import StateDatabase

# policy → which value both sides end with (None: each keeps its own, the conflict stays open).
# Fortnox customers carry no modification time (reference §5.1), so under "newest" the side
# with a timestamp, webCRM, counts as newer even though Fortnox was edited last here.
OUTCOMES = {
    "webcrm": ("08-111", "08-111"),
    "fortnox": ("08-222", "08-222"),
    "newest": ("08-111", "08-111"),
    "manual": ("08-111", "08-222"),
}


@pytest.mark.parametrize("policy", sorted(OUTCOMES))
async def test_a_two_sided_change_follows_the_fields_policy(
    env: Systems, db: StateDatabase, policy: str
) -> None:
    config = tenant(field_policy={"phone": {"conflict": policy}})
    organisation = await env.organisation(OrganisationName="Acme AB", OrganisationTelephone="08-0")
    await env.sync(config, db)
    (customer,) = await env.customers()
    number = customer["CustomerNumber"]
    env.clock.advance(60)
    await env.edit_organisation(organisation, OrganisationTelephone="08-111")
    env.clock.advance(60)
    await env.edit_customer(number, Phone1="08-222", City="Lund")

    run = await env.sync(config, db)

    webcrm_phone = (await env.organisation_data(organisation))["OrganisationTelephone"]
    fortnox = await env.customer_data(number)
    assert (webcrm_phone, fortnox["Phone1"]) == OUTCOMES[policy]
    # The one-sided change of another field went through whatever the policy.
    assert (await env.organisation_data(organisation))["OrganisationCity"] == "Lund"
    (conflict,) = await db.tenant(config.name).conflicts()
    report = conflict.report
    assert (report.field, report.webcrm_value, report.fortnox_value) == (
        "phone",
        "08-111",
        "08-222",
    )
    assert report.base_value == "08-0"
    assert report.policy.value == policy
    if policy == "manual":
        assert report.resolution is None
        assert run.exit_code == 3  # a person must decide
        assert await db.tenant(config.name).conflicts(open_only=True) == [conflict]
    else:
        assert run.exit_code == 0
        assert report.resolution == ("fortnox" if policy == "fortnox" else "webcrm")
        assert await db.tenant(config.name).conflicts(open_only=True) == []
    # Settled or left open, the next run neither writes nor reports it again.
    await env.reset_stats()
    env.clock.advance(60)
    again = await env.sync(config, db)
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}
    assert len(await db.tenant(config.name).conflicts()) == 1
    assert again.exit_code == 0


async def test_a_blank_does_not_overwrite_a_value_unless_configured(
    env: Systems, db: StateDatabase
) -> None:
    organisation = await env.organisation(OrganisationName="Acme AB", OrganisationFax="08-5")
    await env.sync(tenant(), db)
    (customer,) = await env.customers()
    env.clock.advance(60)
    await env.edit_organisation(organisation, OrganisationFax="")
    await env.sync(tenant(), db)
    assert (await env.customer_data(customer["CustomerNumber"]))["Fax"] == "08-5"
    env.clock.advance(60)
    await env.edit_organisation(organisation, OrganisationWww="")
    await env.edit_organisation(organisation, OrganisationFax="08-6")
    await env.sync(tenant(), db)
    env.clock.advance(60)
    await env.edit_organisation(organisation, OrganisationFax="")
    await env.sync(tenant(field_policy={"fax": {"blank_overwrites": True}}), db)
    assert (await env.customer_data(customer["CustomerNumber"]))["Fax"] in ("", None)
