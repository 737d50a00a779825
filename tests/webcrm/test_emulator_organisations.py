"""Emulator: /Organisations (and the conventions every entity shares: paging, validation, merge)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from webcrm_fortnox.emulation import EmulatorClock
from webcrm_fortnox.webcrm.emulator.timestamps import COPENHAGEN


async def create(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post("/Organisations", json={"OrganisationId": 0, **fields})
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_new_organisation_carries_every_field_with_webcrms_unset_values(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await create(webcrm_api, OrganisationName="Nordkust Bygg AB")
    fetched = (await webcrm_api.get(f"/Organisations/{org['OrganisationId']}")).json()
    assert len(fetched) == 109  # every property of OrganisationDto
    assert fetched["OrganisationFax"] == ""
    assert fetched["OrganisationOwner"] == 0
    assert fetched["OrganisationNoAds"] is False
    assert fetched["OrganisationVatVerifiedAt"] == "0001-01-01T00:00:00"
    assert fetched["OrganisationType"] == "-- vælg --"
    assert fetched["OrganisationLastItemType"] == "Undefined"
    assert fetched["OrganisationCompareName"] == "NORDKUSTBYGGAB"
    for n in range(1, 9):
        assert fetched[f"OrganisationExtraCustom{n}"] == ""
    for n in range(1, 21):
        assert fetched[f"OrganisationPlus{n}"] == ""
    # configured custom fields start at their configured defaults
    assert fetched["OrganisationCustom5"] == "-- vælg --"  # a dropdown
    assert fetched["OrganisationCustom8"] == "No"  # a checkbox


async def test_create_answers_200_with_the_created_organisation(
    webcrm_api: httpx.AsyncClient, webcrm_clock: EmulatorClock
) -> None:
    org = await create(webcrm_api, OrganisationName="Fjällvind AB", OrganisationType="Customer")
    assert org["OrganisationId"] == 1
    assert org["OrganisationType"] == "Customer"
    assert org["OrganisationCreatedBy"] == "API webcrm-fortnox"
    created = datetime.fromisoformat(org["OrganisationCreatedAt"])
    assert created.utcoffset() == webcrm_clock.now().astimezone(COPENHAGEN).utcoffset()
    assert abs(created - webcrm_clock.now()) < timedelta(seconds=2)


@pytest.mark.parametrize(
    ("mode", "expected"), [("int", 1), ("empty", None)], ids=["bare id", "empty body"]
)
async def test_the_create_answer_is_configurable_per_system(
    webcrm_api: httpx.AsyncClient, mode: str, expected: int | None
) -> None:
    await webcrm_api.put("/_emulator/settings", json={"organisation_post_response": mode})
    response = await webcrm_api.post("/Organisations", json={"OrganisationName": "X"})
    assert response.status_code == 200
    assert (response.json() if response.content else None) == expected


async def test_put_merges_and_stamps_the_update(
    webcrm_api: httpx.AsyncClient, webcrm_clock: EmulatorClock
) -> None:
    org = await create(webcrm_api, OrganisationName="Ekhagen AB", OrganisationCity="Lund")
    webcrm_clock.advance(120)
    response = await webcrm_api.put(
        f"/Organisations/{org['OrganisationId']}",
        json={"OrganisationId": org["OrganisationId"], "OrganisationTelephone": "046-12 34 56"},
    )
    assert response.status_code == 200
    assert response.content == b""
    after = (await webcrm_api.get(f"/Organisations/{org['OrganisationId']}")).json()
    assert after["OrganisationCity"] == "Lund"  # not sent, kept
    assert after["OrganisationTelephone"] == "046-12 34 56"
    assert after["OrganisationTelephoneSearch"] == "-046123456-"
    assert after["OrganisationCreatedAt"] == org["OrganisationCreatedAt"]
    updated = datetime.fromisoformat(after["OrganisationUpdatedAt"])
    assert updated - datetime.fromisoformat(org["OrganisationUpdatedAt"]) >= timedelta(seconds=119)
    assert after["OrganisationUpdatedBy"] == "API webcrm-fortnox"


async def test_server_set_fields_sent_by_a_client_are_ignored(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await create(
        webcrm_api,
        OrganisationName="Abc",
        OrganisationId=77,
        OrganisationUpdatedAt="2001-01-01T00:00:00",
        OrganisationCreatedBy="someone",
    )
    assert org["OrganisationId"] == 1
    assert org["OrganisationUpdatedAt"].startswith("20") and not org[
        "OrganisationUpdatedAt"
    ].startswith("2001")
    assert org["OrganisationCreatedBy"] == "API webcrm-fortnox"


async def test_writes_are_read_like_aspnet_reads_them(webcrm_api: httpx.AsyncClient) -> None:
    org = await create(
        webcrm_api,
        organisationname="Kasus AB",  # property names are case-insensitive
        OrganisationOwner="3",  # numbers in strings are accepted
        OrganisationNoAds="true",
        OrganisationXDate1="2024-03-01",
        OrganisationLastItemType="delivery",  # enum names in any case
        SomethingNew="ignored",  # unknown properties are ignored
        OrganisationCity=None,  # null leaves the value alone
    )
    assert org["OrganisationName"] == "Kasus AB"
    assert org["OrganisationOwner"] == 3
    assert org["OrganisationNoAds"] is True
    assert org["OrganisationXDate1"] == "2024-03-01T00:00:00+01:00"
    assert org["OrganisationLastItemType"] == "Delivery"
    assert "SomethingNew" not in org
    assert org["OrganisationCity"] == ""


@pytest.mark.parametrize(
    ("fields", "blamed"),
    [
        ({"OrganisationName": "x" * 201}, "OrganisationName"),
        ({"OrganisationCity": "y" * 51}, "OrganisationCity"),
        ({"OrganisationVatCountry": "SE-SWEDEN-1"}, "OrganisationVatCountry"),
        ({"OrganisationOwner": "three"}, "OrganisationOwner"),
        ({"OrganisationOwner": 2**31}, "OrganisationOwner"),
        ({"OrganisationLastItemType": "Invoice"}, "OrganisationLastItemType"),
        ({"OrganisationXDate1": "yesterday"}, "OrganisationXDate1"),
        ({"OrganisationNoAds": "maybe"}, "OrganisationNoAds"),
        ({"OrganisationName": ["a"]}, "OrganisationName"),
    ],
)
async def test_invalid_values_are_refused_and_nothing_is_stored(
    webcrm_api: httpx.AsyncClient, fields: dict[str, Any], blamed: str
) -> None:
    response = await webcrm_api.post("/Organisations", json={"OrganisationName": "Ok", **fields})
    assert response.status_code == 400
    assert set(response.json()) == {"Message", "Type"}
    assert blamed in response.json()["Message"]
    assert (await webcrm_api.get("/Organisations")).json() == []


async def test_a_refused_update_changes_nothing(webcrm_api: httpx.AsyncClient) -> None:
    org = await create(webcrm_api, OrganisationName="Stilla AB")
    url = f"/Organisations/{org['OrganisationId']}"
    response = await webcrm_api.put(
        url, json={"OrganisationCity": "Kiruna", "OrganisationWww": "w" * 51}
    )
    assert response.status_code == 400
    assert (await webcrm_api.get(url)).json() == org


@pytest.mark.parametrize("body", ["[1, 2", "", "[]", '"text"'])
async def test_a_body_that_is_not_an_object_is_a_bad_request(
    webcrm_api: httpx.AsyncClient, body: str
) -> None:
    response = await webcrm_api.post(
        "/Organisations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["Type"] == "BadRequestException"


async def test_unknown_ids_are_404_with_message_and_type(webcrm_api: httpx.AsyncClient) -> None:
    for response in (
        await webcrm_api.get("/Organisations/999"),
        await webcrm_api.put("/Organisations/999", json={"OrganisationName": "x"}),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "Message": "Organisation with id 999 was not found.",
            "Type": "NotFoundException",
        }


async def test_lists_page_by_id_and_return_an_empty_array_past_the_end(
    webcrm_api: httpx.AsyncClient,
) -> None:
    for n in range(5):
        await create(webcrm_api, OrganisationName=f"Org {n}")
    pages = [
        [
            o["OrganisationName"]
            for o in (
                await webcrm_api.get("/Organisations", params={"page": page, "size": 2})
            ).json()
        ]
        for page in (1, 2, 3, 4)
    ]
    assert pages == [["Org 0", "Org 1"], ["Org 2", "Org 3"], ["Org 4"], []]


@pytest.mark.parametrize(
    "params",
    [{"Page": 0}, {"Size": 0}, {"Size": 1001}, {"Page": 1_000_001}, {"Page": "one"}],
)
async def test_paging_outside_the_specified_bounds_is_a_bad_request(
    webcrm_api: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await webcrm_api.get("/Organisations", params=params)
    assert response.status_code == 400


async def test_a_size_of_1000_is_allowed_and_unknown_query_parameters_are_ignored(
    webcrm_api: httpx.AsyncClient,
) -> None:
    await create(webcrm_api, OrganisationName="A")
    await create(webcrm_api, OrganisationName="B")
    response = await webcrm_api.get(
        "/Organisations", params={"Size": 1000, "OrganisationName": "B"}
    )
    assert [o["OrganisationName"] for o in response.json()] == ["A", "B"]


async def test_extra_custom_fields_can_be_flagged_unique(webcrm_api: httpx.AsyncClient) -> None:
    await create(webcrm_api, OrganisationName="A", OrganisationExtraCustom8="F-1001")
    # not unique yet: a duplicate is accepted
    await create(webcrm_api, OrganisationName="B", OrganisationExtraCustom2="K-1")
    await create(webcrm_api, OrganisationName="C", OrganisationExtraCustom2="K-1")

    settings = await webcrm_api.put(
        "/_emulator/settings", json={"unique_fields": ["OrganisationExtraCustom8"]}
    )
    assert settings.json()["unique_fields"] == ["OrganisationExtraCustom8"]
    refused = await webcrm_api.post(
        "/Organisations", json={"OrganisationName": "D", "OrganisationExtraCustom8": "f-1001 "}
    )
    assert refused.status_code == 400
    assert "OrganisationExtraCustom8" in refused.json()["Message"]
    # the holder itself may keep (and re-send) its value; empty values never clash
    assert await webcrm_api.put("/Organisations/1", json={"OrganisationExtraCustom8": "F-1001"})
    assert (await create(webcrm_api, OrganisationName="E"))["OrganisationExtraCustom8"] == ""
    assert (await create(webcrm_api, OrganisationName="F"))["OrganisationExtraCustom8"] == ""


async def test_patch_upserts_each_item_on_its_own(webcrm_api: httpx.AsyncClient) -> None:
    existing = await create(webcrm_api, OrganisationName="Gamla AB")
    response = await webcrm_api.patch(
        "/Organisations",
        json=[
            {"OrganisationId": 0, "OrganisationName": "Nya AB"},
            {"OrganisationId": existing["OrganisationId"], "OrganisationCity": "Visby"},
            {"OrganisationId": 0, "OrganisationName": "z" * 300},
            {"OrganisationId": 404, "OrganisationName": "Ghost"},
        ],
    )
    assert response.status_code == 200
    outcome = response.json()
    assert outcome[:2] == ["2", "1"]
    assert "OrganisationName" in outcome[2]
    assert "not found" in outcome[3]
    names = [o["OrganisationName"] for o in (await webcrm_api.get("/Organisations")).json()]
    assert names == ["Gamla AB", "Nya AB"]
    assert (await webcrm_api.get("/Organisations/1")).json()["OrganisationCity"] == "Visby"


async def test_find_by_update_dates_is_half_open(
    webcrm_api: httpx.AsyncClient, webcrm_clock: EmulatorClock
) -> None:
    first = await create(webcrm_api, OrganisationName="First")
    webcrm_clock.advance(600)
    second = await create(webcrm_api, OrganisationName="Second")
    start = datetime.fromisoformat(first["OrganisationUpdatedAt"])
    end = datetime.fromisoformat(second["OrganisationUpdatedAt"])
    fmt = "%Y-%m-%dT%H:%M:%S"  # what the official client sends (.NET format "s")

    async def names(low: datetime, high: datetime) -> list[str]:
        url = f"/Organisations/FindByUpdateDates/{low.strftime(fmt)}/{high.strftime(fmt)}"
        response = await webcrm_api.get(url, params={"Page": 1, "Size": 100})
        assert response.status_code == 200
        return [o["OrganisationName"] for o in response.json()]

    assert await names(start, end) == ["First"]
    assert await names(start, end + timedelta(seconds=1)) == ["First", "Second"]
    assert await names(start + timedelta(seconds=1), end + timedelta(seconds=1)) == ["Second"]


async def test_find_by_update_dates_refuses_a_date_it_cannot_read(
    webcrm_api: httpx.AsyncClient,
) -> None:
    response = await webcrm_api.get("/Organisations/FindByUpdateDates/yesterday/today")
    assert response.status_code == 400
