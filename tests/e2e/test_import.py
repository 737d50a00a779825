"""Batch import: records that already exist on both sides are paired, not duplicated."""

from __future__ import annotations

from tests.e2e.harness import Systems, tenant
from webcrm_fortnox.engine.apply import RecordStatus
from webcrm_fortnox.engine.matching import MatchResult, Pair
from webcrm_fortnox.engine.ports import MatchVerdict
from webcrm_fortnox.service import match_tenant
from webcrm_fortnox.service.runner import ProposalIds
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.queries import ReadModel


async def arrange(env: Systems) -> dict[str, str]:
    """Both systems in use before the integration: four pairs by each key, an ambiguity and
    one record on each side only. Returns name → id on its own side."""
    ids: dict[str, str] = {}
    for name, values in {
        "by number": {"OrganisationExtraCustom1": "500"},
        "by orgnr": {"OrganisationExtraCustom2": "556036-0793"},
        "by vat": {"OrganisationVatNumber": "SE556677889901"},
        "by name": {"OrganisationPostCode": "111 22"},
        "ambiguous": {"OrganisationExtraCustom2": "559000-0001"},
        "webcrm only": {},
    }.items():
        ids[f"w:{name}"] = str(await env.organisation(OrganisationName=name.title(), **values))
    for name, values in {
        "by number": {"CustomerNumber": "500", "Name": "By Number AB"},
        "by orgnr": {"OrganisationNumber": "5560360793", "Name": "Other Name"},
        "by vat": {"VATNumber": "SE556677889901", "Name": "By Vat"},
        "by name": {"Name": " By  Name", "ZipCode": "111 22"},
        "ambiguous 1": {"OrganisationNumber": "559000-0001", "Name": "Twin One"},
        "ambiguous 2": {"OrganisationNumber": "559000-0001", "Name": "Twin Two"},
        "fortnox only": {"Name": "Fortnox Only"},
    }.items():
        ids[f"f:{name}"] = await env.customer(**values)
    return ids


async def test_a_first_sync_pairs_unique_matches_and_reports_ambiguous_ones(
    env: Systems, db: StateDatabase
) -> None:
    ids = await arrange(env)
    run = await env.sync(tenant(), db)
    assert run.exit_code == 3  # the ambiguous records need a person
    links = {
        (link.webcrm_id, link.fortnox_id) for link in await db.tenant("acme").links("customer")
    }
    for key in ("by number", "by orgnr", "by vat", "by name"):
        assert (ids[f"w:{key}"], ids[f"f:{key}"]) in links
    # Nothing created for the ambiguous ones; the one-sided ones are imported both ways.
    assert len(await env.customers()) == 8
    assert len(await env.organisations()) == 7
    review = {
        (o.webcrm_id, o.fortnox_id)
        for o in run.results[0].outcomes
        if o.status is RecordStatus.REVIEW
    }
    assert review == {
        (ids["w:ambiguous"], None),
        (None, ids["f:ambiguous 1"]),
        (None, ids["f:ambiguous 2"]),
    }
    # Their candidate pairs are stored for a person to choose among, without `match`.
    proposals = (await ReadModel(db).match_proposals("acme")).rows
    assert sorted((p.webcrm_id, p.fortnox_id, p.state) for p in proposals) == sorted(
        (ids["w:ambiguous"], ids[f"f:ambiguous {n}"], "proposed") for n in (1, 2)
    )
    assert len({p.candidates for p in proposals}) == 1
    assert {p.fortnox_name for p in proposals} == {"Twin One", "Twin Two"}
    await env.reset_stats()
    env.clock.advance(60)
    await env.sync(tenant(), db)
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}


async def test_match_decisions_settle_an_ambiguity(env: Systems, db: StateDatabase) -> None:
    ids = await arrange(env)
    await env.reset_stats()
    proposals: list[MatchResult] = []

    async def decide(result: MatchResult, _ids: ProposalIds) -> list[tuple[Pair, MatchVerdict]]:
        proposals.append(result)
        (ambiguity,) = result.ambiguous
        one, two = sorted(ambiguity.fortnox, key=lambda r: r.fields["name"] or "")
        (webcrm,) = ambiguity.webcrm
        accepted = [(pair, MatchVerdict.ACCEPTED) for pair in result.pairs]
        return [
            *accepted,
            (Pair(webcrm, one, ambiguity.key), MatchVerdict.ACCEPTED),
            (Pair(webcrm, two, ambiguity.key), MatchVerdict.REJECTED),
        ]

    config = tenant()
    async with env.connector.clients(config) as clients:
        run = await match_tenant(
            config, db.tenant(config.name), clients.webcrm, clients.fortnox, decide
        )
    assert run.decisions == 6
    stored = (await ReadModel(db).match_proposals(config.name)).rows
    assert sorted(p.state for p in stored) == ["accepted"] * 4 + ["chosen", "rejected"]
    assert {p.id for p in run.proposals} == {p.id for p in stored}
    (result,) = proposals
    assert {(p.key, p.webcrm.id, p.fortnox.id) for p in result.pairs} == {
        ("customer number", ids["w:by number"], ids["f:by number"]),
        ("organisation number", ids["w:by orgnr"], ids["f:by orgnr"]),
        ("VAT number", ids["w:by vat"], ids["f:by vat"]),
        ("name and postcode", ids["w:by name"], ids["f:by name"]),
    }
    assert [r.id for r in result.webcrm_only] == [ids["w:webcrm only"]]
    assert [r.id for r in result.fortnox_only] == [ids["f:fortnox only"]]
    # Matching wrote nothing to either system.
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}

    assert (await env.sync(config, db)).exit_code == 0
    links = {(k.webcrm_id, k.fortnox_id) for k in await db.tenant("acme").links("customer")}
    assert (ids["w:ambiguous"], ids["f:ambiguous 1"]) in links
    # The rejected twin is a customer of its own, imported into webCRM.
    assert "Twin Two" in {o["OrganisationName"] for o in await env.organisations()}
