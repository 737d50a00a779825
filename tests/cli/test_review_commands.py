"""What a person reviews through the CLI: errors and conflicts of any entity, stored match
proposals; against both emulators in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.test_sync_commands import cli, config_file, env, pairs_to_match
from tests.e2e.harness import Systems
from webcrm_fortnox.engine.ports import ConflictReport, Policy
from webcrm_fortnox.fortnox.models import Article
from webcrm_fortnox.store import StateDatabase

__all__ = ["env"]  # the fixture, shared with the sync commands' tests


async def test_a_document_refused_for_its_rows_blames_lines_and_is_retried_by_id(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path)
    organisation = await env.organisation(OrganisationName="Acme AB")
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    sale = await env.webcrm.create_delivery(
        {"DeliveryOrganisationId": organisation, "DeliveryDescription": "Sale"}
    )
    line = await env.webcrm.create_quotation_line(
        {
            "QuotationLineOpportunityId": sale,
            "QuotationLineMemo": "Consulting",
            "QuotationLineQuantity": 1,
            "QuotationLinePrice": 100,
            "QuotationLineVatPercentage": 17,  # not a rate the company has
        }
    )
    env.clock.advance(60)
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 3

    listed = await cli(env.connector, "errors", "--json", "--config", path)
    (error,) = json.loads(listed.stdout)["tenants"][0]["errors"]
    assert (error["entity"], error["field"]) == ("document", "lines")
    assert error["vendor_message"] == "Kunde inte hämta/hitta moms."

    await env.webcrm.update_quotation_line(line, {"QuotationLineVatPercentage": 25})
    retried = await cli(env.connector, "retry", str(error["id"]), "--config", path)

    assert retried.exit_code == 0, retried.output
    assert [o.external_invoice_reference1 async for o in env.fortnox.orders.iterate()] == [
        str(sale)
    ]
    cleared = await cli(env.connector, "errors", "--config", path)
    assert cleared.exit_code == 0, cleared.output


async def test_take_settles_an_open_conflict_of_an_article(env: Systems, tmp_path: Path) -> None:
    path = config_file(tmp_path)
    await env.fortnox.articles.create(Article(description="Hammer", purchase_price=50))
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        state = db.tenant("acme")
        (link,) = await state.links("article")
        # An open conflict on an article, as a manual policy would have left it.
        report = ConflictReport("name", "Sledge", "Hammer", "Hammer", Policy.MANUAL, None)
        await state.add_conflicts("article", link, [report])
        (conflict,) = await state.conflicts("article", open_only=True)
        item = int(link.webcrm_id)
    await env.webcrm.update_product_register_item(
        item, {"QuotationLineLinkedDataItemData2": "Sledge"}
    )

    taken = await cli(
        env.connector, "conflicts", "--take", "fortnox", str(conflict.id), "--config", path
    )

    assert taken.exit_code == 0, taken.output
    assert f"conflict {conflict.id} (article name) settled" in taken.stdout
    async with await StateDatabase.open(f"sqlite:///{tmp_path / 'state.db'}") as db:
        assert await db.tenant("acme").conflicts("article", open_only=True) == []
    (product,) = [p for p in await env.webcrm.product_register() if p.id == item]
    assert product.data(2) == "Hammer"


async def test_match_stores_proposals_decided_later_by_id(env: Systems, tmp_path: Path) -> None:
    ids = await pairs_to_match(env)
    path = config_file(tmp_path)
    proposed = await cli(env.connector, "match", "--json", "--config", path)
    (entry,) = json.loads(proposed.stdout)["tenants"]
    by_fortnox = {p["fortnox_id"]: p for p in entry["proposals"]}
    assert {p["state"] for p in by_fortnox.values()} == {"proposed"}
    accepted, rejected = by_fortnox[ids["one"]], by_fortnox[ids["two"]]

    decided = await cli(
        env.connector,
        "match",
        "--accept",
        str(accepted["id"]),
        "--reject",
        str(rejected["id"]),
        "--config",
        path,
    )
    assert decided.exit_code == 0, decided.output
    assert f"match proposal {accepted['id']} (webCRM {ids['first']} = Fortnox" in decided.stdout
    listed = await cli(env.connector, "match", "--list", "--config", path)
    assert re.search(rf"│\s*{accepted['id']}\s*│.*│\s*accepted\s*│", listed.stdout), listed.stdout
    assert re.search(rf"│\s*{rejected['id']}\s*│.*│\s*rejected\s*│", listed.stdout)
    unknown = await cli(env.connector, "match", "--accept", "999", "--config", path)
    assert unknown.exit_code != 0 and "no match proposal 999" in unknown.output

    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    # The accepted pair is linked; the rejected one is not: each side got the other's copy.
    assert len(await env.customers()) == 3 and len(await env.organisations()) == 3


async def test_choosing_a_candidate_rejects_those_sharing_its_record(
    env: Systems, tmp_path: Path
) -> None:
    await env.organisation(OrganisationName="Twin AB", OrganisationPostCode="111 22")
    one = await env.customer(Name="Twin AB", ZipCode="111 22")
    await env.customer(Name="Twin AB", ZipCode="111 22")
    path = config_file(tmp_path)
    proposed = await cli(env.connector, "match", "--json", "--config", path)
    candidates = json.loads(proposed.stdout)["tenants"][0]["proposals"]
    assert len(candidates) == 2 and len({c["candidates"] for c in candidates}) == 1
    (chosen,) = [c for c in candidates if c["fortnox_id"] == one]

    decided = await cli(env.connector, "match", "--choose", str(chosen["id"]), "--config", path)

    assert decided.exit_code == 0, decided.output
    assert "1 other candidate(s) sharing a record rejected" in decided.stdout
    listed = await cli(env.connector, "match", "--list", "--json", "--config", path)
    stored = json.loads(listed.stdout)["tenants"][0]["proposals"]
    assert sorted((p["fortnox_id"] == one, p["state"]) for p in stored) == [
        (False, "rejected"),
        (True, "chosen"),
    ]
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 0
    organisations = await env.organisations()
    assert len(organisations) == 2  # the twin not chosen was imported as a customer of its own
