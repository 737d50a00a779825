"""Emulator: GET /Queries, the SQL-like subset integrations use for "changed since"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webcrm_fortnox.emulation import EmulatorClock, EmulatorKit, Storage
from webcrm_fortnox.webcrm.emulator import WebcrmEmulator
from webcrm_fortnox.webcrm.emulator.organisations import ORGANISATIONS
from webcrm_fortnox.webcrm.emulator.queries import QueryError, parse, run, tokenize


async def query(api: httpx.AsyncClient, script: str, **params: Any) -> httpx.Response:
    return await api.get("/Queries", params={"script": script, **params})


async def rows(api: httpx.AsyncClient, script: str, **params: Any) -> list[dict[str, Any]]:
    response = await query(api, script, **params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def organisations(api: httpx.AsyncClient, *bodies: dict[str, Any]) -> list[int]:
    ids = []
    for body in bodies:
        response = await api.post("/Organisations", json=body)
        ids.append(response.json()["OrganisationId"])
    return ids


async def test_changed_since_filters_on_the_update_timestamp(
    webcrm_api: httpx.AsyncClient, webcrm_clock: EmulatorClock
) -> None:
    await organisations(webcrm_api, {"OrganisationName": "Old"})
    webcrm_clock.advance(600)
    since = webcrm_clock.now()
    await organisations(webcrm_api, {"OrganisationName": "New"})
    webcrm_clock.advance(60)
    await webcrm_api.put("/Organisations/1", json={"OrganisationCity": "Gävle"})

    # the official client's literal: UTC with seven fraction digits and Z
    literal = since.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    found = await rows(
        webcrm_api, f"SELECT * FROM Organisation WHERE OrganisationUpdatedAt >= '{literal}'"
    )
    assert [o["OrganisationName"] for o in found] == ["Old", "New"]  # id order
    assert len(found[0]) == 109  # full rows, keyed like the DTO

    later = (since + timedelta(seconds=30)).isoformat()
    found = await rows(
        webcrm_api, f"select * from organisation t where t.OrganisationUpdatedAt > '{later}'"
    )
    assert [o["OrganisationName"] for o in found] == ["Old"]


async def test_strings_compare_case_insensitively_and_numbers_as_numbers(
    webcrm_api: httpx.AsyncClient,
) -> None:
    await organisations(
        webcrm_api,
        {"OrganisationName": "Tekniko AB", "OrganisationOwner": 2, "OrganisationType": "Customer"},
        {"OrganisationName": "Bröd & Bullar", "OrganisationOwner": 10},
        {"OrganisationName": "Älvsborg", "OrganisationOwner": 3, "OrganisationType": "Partner"},
    )
    by_name = await rows(
        webcrm_api, "SELECT * FROM Organisation WHERE OrganisationName = 'TEKNIKO ab'"
    )
    assert [o["OrganisationId"] for o in by_name] == [1]
    by_owner = await rows(
        webcrm_api, "SELECT OrganisationId FROM Organisation WHERE OrganisationOwner > 2"
    )
    assert by_owner == [{"OrganisationId": 2}, {"OrganisationId": 3}]  # 10 > 2 as a number
    mixed = await rows(
        webcrm_api,
        "SELECT OrganisationName FROM Organisation WHERE (OrganisationType = 'customer' "
        "OR OrganisationType = 'Partner') AND NOT OrganisationOwner = 3",
    )
    assert mixed == [{"OrganisationName": "Tekniko AB"}]
    liked = await rows(
        webcrm_api, "SELECT OrganisationId FROM Organisation WHERE OrganisationName LIKE '%b_llar'"
    )
    assert liked == [{"OrganisationId": 2}]


async def test_order_by_and_paging_apply_after_filtering(webcrm_api: httpx.AsyncClient) -> None:
    names = ["Delta", "alfa", "Charlie", "bravo", "Echo"]
    await organisations(webcrm_api, *({"OrganisationName": n} for n in names))
    script = (
        "SELECT OrganisationName FROM Organisation WHERE OrganisationName <> 'echo' "
        "ORDER BY OrganisationName"
    )
    pages = [
        [r["OrganisationName"] for r in await rows(webcrm_api, script, Page=page, Size=3)]
        for page in (1, 2, 3)
    ]
    assert pages == [["alfa", "bravo", "Charlie"], ["Delta"], []]
    descending = await rows(
        webcrm_api, "SELECT OrganisationName FROM Organisation ORDER BY OrganisationId DESC", Size=2
    )
    assert descending == [{"OrganisationName": "Echo"}, {"OrganisationName": "bravo"}]


async def test_other_tables_and_the_product_register(webcrm_demo_api: httpx.AsyncClient) -> None:
    deliveries = await rows(
        webcrm_demo_api, "SELECT * FROM Delivery WHERE DeliveryStatus = 'completed'", Size=1000
    )
    assert deliveries and {d["DeliveryStatus"] for d in deliveries} == {"Completed"}
    persons = await rows(
        webcrm_demo_api, "SELECT PersonId FROM Person WHERE PersonOrganisationId = 1"
    )
    assert persons
    lines = await rows(
        webcrm_demo_api, "SELECT * FROM QuotationLine WHERE QuotationLineQuantity >= 1"
    )
    assert lines
    # recorded (official ERP sync): product register lookups use LinkedDataItem… and type 7
    items = await rows(
        webcrm_demo_api,
        "SELECT * FROM LinkedData WHERE LinkedDataItemEntityType = 7 "
        "AND LinkedDataItemData1 = '1003'",
    )
    assert [i["LinkedDataItemData1"] for i in items] == ["1003"]
    assert items[0]["LinkedDataItemEntityType"] == "Product"


@pytest.mark.parametrize(
    ("script", "mentions"),
    [
        (
            "SELECT * FROM Person JOIN Organisation ON (PersonOrganisationId = OrganisationId)",
            "JOIN",
        ),
        ("SELECT * FROM Invoice", "Invoice"),
        ("SELECT * FROM Organisation WHERE Nonsense = '1'", "Nonsense"),
        (
            "SELECT * FROM Organisation WHERE OrganisationName = OrganisationCity",
            "OrganisationCity",
        ),
        ("SELECT * FROM Organisation WHERE OrganisationName = 'open", "Unterminated"),
        (
            "SELECT * FROM Organisation WHERE OrganisationUpdatedAt >= 'soon'",
            "OrganisationUpdatedAt",
        ),
        ("SELECT * FROM Organisation WHERE OrganisationOwner = 'x'", "OrganisationOwner"),
        ("SELECT * FROM Organisation GROUP BY OrganisationType", "GROUP"),
        ("SELECT * FROM Organisation; DROP TABLE Organisation", "';'"),
        ("SELECT COUNT(*) FROM Organisation", "'('"),
        ("DELETE FROM Organisation", "SELECT"),
        ("SELECT * FROM Organisation WHERE x.OrganisationName = 'a'", "'x'"),
    ],
)
async def test_unsupported_or_wrong_scripts_are_a_clear_bad_request(
    webcrm_api: httpx.AsyncClient, script: str, mentions: str
) -> None:
    response = await query(webcrm_api, script)
    assert response.status_code == 400
    assert response.json()["Type"] == "BadRequestException"
    assert mentions in response.json()["Message"]


async def test_a_missing_script_and_bad_paging_are_refused(webcrm_api: httpx.AsyncClient) -> None:
    assert (await webcrm_api.get("/Queries")).status_code == 400
    response = await query(webcrm_api, "SELECT * FROM Organisation", Size=1001)
    assert response.status_code == 400


def test_quotes_inside_literals_are_doubled() -> None:
    tokens = tokenize("SELECT * FROM Person WHERE PersonEmail = 'o''brien@x.dk'")
    assert [t.value for t in tokens if t.kind == "string"] == ["o'brien@x.dk"]
    assert parse("SELECT a, b FROM T x WHERE a = 'it''s' ORDER BY b DESC").alias == "x"


def test_parse_errors_are_query_errors() -> None:
    with pytest.raises(QueryError):
        parse("SELECT * FROM")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(min_size=1, max_size=40).filter(lambda v: v.strip() == v))
def test_any_value_is_only_ever_a_value(value: str) -> None:
    """Whatever a literal holds (quotes, keywords, comments), it matches exactly its record."""
    emulator = WebcrmEmulator(EmulatorKit(rate_limit=None, storage=Storage()), seed="empty")
    system = emulator.system(None)
    system.create(ORGANISATIONS, {"OrganisationName": "Someone else", "OrganisationCity": "x"})
    system.create(ORGANISATIONS, {"OrganisationName": "Target", "OrganisationCity": value})
    literal = "'" + value.replace("'", "''") + "'"
    found = run(
        system,
        f"SELECT OrganisationName FROM Organisation WHERE OrganisationCity = {literal}",
        page=1,
        size=10,
    )
    expected = [{"OrganisationName": "Target"}]
    if value.casefold() == "x":
        expected = [{"OrganisationName": "Someone else"}, *expected]
    assert found == expected


async def test_changed_since_pages_through_a_larger_system(webcrm_clock: EmulatorClock) -> None:
    emulator = WebcrmEmulator(EmulatorKit(rate_limit=None, clock=webcrm_clock), seed="empty")
    system = emulator.system(None)
    for n in range(2000):
        system.create(ORGANISATIONS, {"OrganisationName": f"Org {n}"})
    since = (webcrm_clock.now() - timedelta(minutes=1)).isoformat()
    script = f"SELECT OrganisationId FROM Organisation WHERE OrganisationUpdatedAt >= '{since}'"
    seen = [r["OrganisationId"] for page in (1, 2, 3) for r in run(system, script, page, 1000)]
    assert seen == list(range(1, 2001))
