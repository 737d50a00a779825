"""A customer carried across both emulators reads back equal: the basis of echo-free syncing."""

from __future__ import annotations

from tests.adapters.emulators import Emulators
from tests.adapters.test_webcrm_organisations import FIELDS, tenant
from webcrm_fortnox.domain.customer_spec import synced_fields
from webcrm_fortnox.engine.adapters import customer_sources


async def test_fortnox_to_webcrm_and_back_changes_nothing(env: Emulators) -> None:
    config = tenant()
    organisations, customers = customer_sources(config, env.webcrm, env.fortnox)
    in_fortnox = await customers.create({**FIELDS, "customer_number": None}, "x")
    in_webcrm = await organisations.create(in_fortnox.fields, in_fortnox.id)
    synced = synced_fields(config)
    assert {f: in_webcrm.fields[f] for f in synced} == {f: in_fortnox.fields[f] for f in synced}
    again = await customers.create({**in_webcrm.fields, "customer_number": None}, in_webcrm.id)
    assert {**again.fields, "customer_number": None} == {
        **in_fortnox.fields,
        "customer_number": None,
    }


async def test_private_customers_keep_their_kind_both_ways(env: Emulators) -> None:
    config = tenant(customer_number_owner="webcrm")
    organisations, customers = customer_sources(config, env.webcrm, env.fortnox)
    in_webcrm = await organisations.create(
        {"name": "Anna Berg", "customer_type": "private", "customer_number": "P-1"}, "P-1"
    )
    in_fortnox = await customers.create(in_webcrm.fields, in_webcrm.id)
    assert in_fortnox.id == "P-1"
    assert in_fortnox.fields["customer_type"] == "private"
    stored = await env.fortnox.customers.get("P-1")
    assert stored.type == "PRIVATE"
