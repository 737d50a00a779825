"""``--json`` of ``errors``, ``conflicts``, ``plan`` and ``match``: one document each, in the
shapes the README documents, through the CLI entry against the emulators in-process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_sync_commands import cli, config_file, pairs_to_match
from tests.e2e.harness import Systems, systems, tenant


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both


async def document(env: Systems, *args: str, code: int = 0) -> dict[str, Any]:
    result = await cli(env.connector, *args)
    assert result.exit_code == code, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)  # nothing but the document
    return parsed


async def test_errors_json_lists_each_failing_record_with_the_vendors_words(
    env: Systems, tmp_path: Path
) -> None:
    bad = await env.organisation(OrganisationName="Berg AB", OrganisationCustom1="Gata <1>")
    path = config_file(tmp_path)
    assert (await cli(env.connector, "sync", "--once", "--config", path)).exit_code == 3

    doc = await document(env, "errors", "--json", "--config", path, code=3)

    ((only,),) = [entry["errors"] for entry in doc["tenants"]]
    assert doc["tenants"][0]["tenant"] == "acme"
    assert {k: only[k] for k in ("entity", "system", "record_id", "kind", "field")} == {
        "entity": "customer",
        "system": "webcrm",
        "record_id": str(bad),
        "kind": "failure",
        "field": "visiting_address",
    }
    assert only["vendor_code"] == "2000359"
    assert "Gata <1>" in only["vendor_message"] and only["reason"].startswith("Fortnox refused")
    assert only["attempts"] == 1 and isinstance(only["id"], int)
    assert only["first_seen"] <= only["last_seen"]


async def test_conflicts_json_shows_both_values_the_base_and_what_was_kept(
    env: Systems, tmp_path: Path
) -> None:
    config = tenant(field_policy={"phone": {"conflict": "manual"}, "fax": {"conflict": "webcrm"}})
    path = config_file(tmp_path, config)
    organisation = await env.organisation(OrganisationName="Acme AB", OrganisationFax="0")
    await cli(env.connector, "sync", "--once", "--config", path)
    (customer,) = await env.customers()
    env.clock.advance(60)
    await env.edit_organisation(organisation, OrganisationTelephone="1", OrganisationFax="3")
    await env.edit_customer(customer["CustomerNumber"], Phone1="2", Fax="4")
    await cli(env.connector, "sync", "--once", "--config", path)

    doc = await document(env, "conflicts", "--json", "--config", path)

    by_field = {c["field"]: c for c in doc["tenants"][0]["conflicts"]}
    phone, fax = by_field["phone"], by_field["fax"]
    assert (phone["webcrm_value"], phone["fortnox_value"], phone["base_value"]) == ("1", "2", None)
    assert (phone["policy"], phone["kept"], phone["open"]) == ("manual", None, True)
    assert (fax["base_value"], fax["kept"], fax["open"]) == ("0", "webcrm", False)
    assert phone["webcrm_id"] == str(organisation)
    assert phone["fortnox_id"] == customer["CustomerNumber"]
    opened = await document(env, "conflicts", "--open", "--json", "--config", path)
    assert [c["field"] for c in opened["tenants"][0]["conflicts"]] == ["phone"]


async def test_a_conflict_a_later_one_replaced_is_listed_closed_undecided(
    env: Systems, tmp_path: Path
) -> None:
    path = config_file(tmp_path, tenant(field_policy={"phone": {"conflict": "manual"}}))
    organisation = await env.organisation(OrganisationName="Acme AB")
    await cli(env.connector, "sync", "--once", "--config", path)
    (customer,) = await env.customers()
    for webcrm_phone, fortnox_phone in [("1", "2"), ("3", "4")]:
        env.clock.advance(60)
        await env.edit_organisation(organisation, OrganisationTelephone=webcrm_phone)
        await env.edit_customer(customer["CustomerNumber"], Phone1=fortnox_phone)
        await cli(env.connector, "sync", "--once", "--config", path)

    doc = await document(env, "conflicts", "--json", "--config", path)
    table = await cli(env.connector, "conflicts", "--config", path)

    listed = doc["tenants"][0]["conflicts"]
    assert [(c["webcrm_value"], c["kept"], c["open"]) for c in listed] == [
        ("1", None, False),
        ("3", None, True),
    ]
    assert listed[0]["resolved_at"] is not None
    assert table.stdout.count("closed undecided") == 1
    assert table.stdout.count(" open ") == 1


async def test_plan_json_lists_every_action_with_its_changes_and_writes_nothing(
    env: Systems, tmp_path: Path
) -> None:
    await env.organisation(OrganisationName="Acme AB", OrganisationTelephone="08-1")
    prospect = await env.organisation(OrganisationName="Kanske AB", OrganisationType="Prospect")
    path = config_file(tmp_path)
    await env.reset_stats()

    doc = await document(env, "plan", "--json", "--config", path)

    (entry,) = doc["tenants"]
    assert (entry["tenant"], entry["stopped"]) == ("acme", None)
    customers = next(p for p in entry["plans"] if p["entity"] == "customer")
    assert customers["mode"] == "incremental"
    create = next(a for a in customers["actions"] if a["kind"] == "create")
    assert (create["name"], create["source"], create["fortnox_id"]) == ("Acme AB", "webcrm", None)
    assert {"system": "fortnox", "field": "phone", "old": None, "new": "08-1"} in create["changes"]
    (excluded,) = [a for a in customers["actions"] if a["kind"] == "exclude"]
    assert excluded["webcrm_id"] == str(prospect) and "Prospect" in excluded["reason"]
    assert sum(customers["counts"].values()) == len(customers["actions"])
    assert await env.writes() == {"fortnox": 0, "webcrm": 0}


async def test_plan_json_of_a_stopped_tenant_says_why_and_exits_1(tmp_path: Path) -> None:
    async with systems() as env:
        config = tenant(fortnox={"client_secret": "wrong"})
        doc = await document(
            env, "plan", "--json", "--config", config_file(tmp_path, config), code=1
        )
    (entry,) = doc["tenants"]
    assert entry["stopped"] and entry["plans"] == []


async def test_match_json_lists_pairs_and_records_only_with_yes(
    env: Systems, tmp_path: Path
) -> None:
    ids = await pairs_to_match(env)
    await env.organisation(OrganisationName="Ensam AB")
    path = config_file(tmp_path)

    listed = await document(env, "match", "--json", "--config", path)

    (entry,) = listed["tenants"]
    pairs = {(p["webcrm"]["id"], p["fortnox"]["id"]): p["key"] for p in entry["pairs"]}
    assert pairs == {
        (str(ids["first"]), ids["one"]): "organisation number",
        (str(ids["second"]), ids["two"]): "name and postcode",
    }
    assert [r["name"] for r in entry["webcrm_only"]] == ["Ensam AB"]
    assert (entry["fortnox_only"], entry["ambiguous"], entry["decisions_recorded"]) == ([], [], 0)
    accepted = await document(env, "match", "--json", "--yes", "--config", path)
    assert accepted["tenants"][0]["decisions_recorded"] == 2
