"""Emulator: Persons, Deliveries, QuotationLines and the product register (LinkedData)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ITEM_DATA = {f"QuotationLineLinkedDataItemData{n}": "-" for n in range(1, 10)}


async def post(api: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    response = await api.post(url, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def organisation(api: httpx.AsyncClient, name: str = "Kund AB") -> int:
    created = await post(api, "/Organisations", {"OrganisationName": name})
    return int(created["OrganisationId"])


async def item(api: httpx.AsyncClient, number: str, **fields: Any) -> int:
    body = {**ITEM_DATA, "QuotationLineLinkedDataItemData1": number, **fields}
    return int(await post(api, "/QuotationLines/LinkedData", body))


# --- persons ------------------------------------------------------------------------------


async def test_a_person_is_created_with_a_bare_id_and_derived_name(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await organisation(webcrm_api)
    person_id = await post(
        webcrm_api,
        "/Persons",
        {
            "PersonId": 0,
            "PersonFirstName": "Ann",
            "PersonLastName": "Berg",
            "PersonEmail": "ann@kund.se",
            "PersonDirectPhone": "+46 8 123",
            "PersonOrganisationId": org,
        },
    )
    assert person_id == 1
    person = (await webcrm_api.get("/Persons/1")).json()
    assert len(person) == 88
    assert person["PersonName"] == "Ann Berg"
    assert person["PersonTelephoneSearch"] == "-468123-"
    assert person["PersonStatus"] == "Active"
    assert person["PersonBirthday"] == "0001-01-01T00:00:00"
    assert person["PersonCheckMark10"] is False
    assert person["PersonCustom1"] == "-- vælg --"


async def test_a_person_needs_a_last_name_and_an_existing_organisation(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await organisation(webcrm_api)
    no_last_name = await webcrm_api.post(
        "/Persons",
        json={"PersonFirstName": "Ann", "PersonLastName": " ", "PersonOrganisationId": org},
    )
    assert no_last_name.status_code == 400
    assert "PersonLastName" in no_last_name.json()["Message"]
    no_org = await webcrm_api.post(
        "/Persons", json={"PersonLastName": "Berg", "PersonOrganisationId": 999}
    )
    assert no_org.status_code == 400
    assert (await webcrm_api.get("/Persons")).json() == []


async def test_a_persons_organisation_cannot_be_changed_through_the_api(
    webcrm_api: httpx.AsyncClient,
) -> None:
    first, second = await organisation(webcrm_api, "A"), await organisation(webcrm_api, "B")
    person = await post(
        webcrm_api, "/Persons", {"PersonLastName": "Berg", "PersonOrganisationId": first}
    )
    response = await webcrm_api.put(
        f"/Persons/{person}", json={"PersonOrganisationId": second, "PersonTitle": "VD"}
    )
    assert response.status_code == 200
    after = (await webcrm_api.get(f"/Persons/{person}")).json()
    assert after["PersonOrganisationId"] == first
    assert after["PersonTitle"] == "VD"


async def test_persons_of_an_organisation(webcrm_api: httpx.AsyncClient) -> None:
    first, second = await organisation(webcrm_api, "A"), await organisation(webcrm_api, "B")
    for org, name in ((first, "Ek"), (second, "Al"), (first, "Ask")):
        await post(webcrm_api, "/Persons", {"PersonLastName": name, "PersonOrganisationId": org})
    for url in (f"/Organisations/{first}/Persons", f"/Persons/ByOrganisation/{first}"):
        response = await webcrm_api.get(url, params={"Page": 1, "Size": 10})
        assert [p["PersonLastName"] for p in response.json()] == ["Ek", "Ask"]
    assert (await webcrm_api.get("/Organisations/99/Persons")).status_code == 404


# --- deliveries -----------------------------------------------------------------------------


async def test_a_delivery_has_the_erp_fields_statuses_and_custom_fields_stored_verbatim(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await organisation(webcrm_api)
    delivery_id = await post(
        webcrm_api,
        "/Deliveries",
        {
            "DeliveryOrganisationId": org,
            "DeliveryStatus": "Planned",
            "DeliveryErpStatus": "ReadyForSynchronization",
            "DeliveryErpId": "F-17",
            "DeliveryCustom4": "Yes",
            "DeliveryCustom6": "07: 7 dage",
        },
    )
    delivery = (await webcrm_api.get(f"/Deliveries/{delivery_id}")).json()
    assert len(delivery) == 136
    assert delivery["DeliveryStatus"] == "Planned"
    assert delivery["DeliveryErpStatus"] == "ReadyForSynchronization"
    assert delivery["DeliveryErpSyncDateTime"] == "0001-01-01T00:00:00"
    assert delivery["DeliverySpentTime"] == "00:00:00"
    assert delivery["DeliveryProduct"] == "-- vælg --"
    assert delivery["DeliveryRisk"] == "NoRisk"
    assert (delivery["DeliveryCustom4"], delivery["DeliveryCustom6"]) == ("Yes", "07: 7 dage")

    for status in ("New", "OnGoing", "Completed", "GeneralDelivery"):
        response = await webcrm_api.put(
            f"/Deliveries/{delivery_id}", json={"DeliveryStatus": status}
        )
        assert response.status_code == 200
    lost = await webcrm_api.put(f"/Deliveries/{delivery_id}", json={"DeliveryStatus": "Lost"})
    assert lost.status_code == 400
    assert (await webcrm_api.get(f"/Deliveries/{delivery_id}")).json()["DeliveryStatus"] == (
        "GeneralDelivery"
    )


async def test_a_delivery_needs_an_existing_organisation(webcrm_api: httpx.AsyncClient) -> None:
    response = await webcrm_api.post("/Deliveries", json={"DeliveryOrganisationId": 5})
    assert response.status_code == 400
    assert "DeliveryOrganisationId" in response.json()["Message"]


async def test_deliveries_by_organisation_and_by_status(webcrm_api: httpx.AsyncClient) -> None:
    first, second = await organisation(webcrm_api, "A"), await organisation(webcrm_api, "B")
    ids = [
        await post(webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org, "DeliveryStatus": s})
        for org, s in ((first, "New"), (second, "Completed"), (first, "Completed"))
    ]
    by_org = (await webcrm_api.get(f"/Deliveries/ByOrganisation/{first}")).json()
    assert [d["DeliveryId"] for d in by_org] == [ids[0], ids[2]]
    by_status = (await webcrm_api.get("/Deliveries/ByStatus/completed")).json()
    assert [d["DeliveryId"] for d in by_status] == [ids[1], ids[2]]
    assert (await webcrm_api.get("/Deliveries/ByStatus/Lost")).status_code == 400


async def test_move_gives_a_delivery_another_organisation(webcrm_api: httpx.AsyncClient) -> None:
    first, second = await organisation(webcrm_api, "A"), await organisation(webcrm_api, "B")
    delivery = await post(webcrm_api, "/Deliveries", {"DeliveryOrganisationId": first})
    moved = await webcrm_api.post(
        f"/Deliveries/{delivery}/Move", json={"NewOrganisationId": second}
    )
    assert moved.status_code == 204
    assert (await webcrm_api.get(f"/Deliveries/{delivery}")).json()[
        "DeliveryOrganisationId"
    ] == second


# --- quotation lines and the product register ----------------------------------------------


async def test_a_line_attaches_to_a_delivery_and_takes_over_the_picked_item(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await organisation(webcrm_api)
    delivery = await post(webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org})
    product = await item(
        webcrm_api,
        "1001",
        QuotationLineLinkedDataItemData2="Skruvdragare",
        QuotationLineLinkedDataItemPrice=1495.0,
        QuotationLineLinkedDataItemCostPrice=900.0,
    )
    line_id = await post(
        webcrm_api,
        "/QuotationLines",
        {
            "QuotationLineId": 0,
            "QuotationLineOpportunityId": delivery,
            "QuotationLineLinkedDataId": product,
            "QuotationLineQuantity": 3,
            "QuotationLinePrice": 1295.0,
        },
    )
    line = (await webcrm_api.get(f"/QuotationLines/{line_id}")).json()
    assert len(line) == 27  # QuotationLineDto: the item id is not read back
    assert "QuotationLineLinkedDataId" not in line
    assert line["QuotationLineData1"] == "1001"
    assert line["QuotationLineData2"] == "Skruvdragare"
    assert line["QuotationLinePrice"] == 1295.0  # sent, so kept
    assert line["QuotationLineListPrice"] == 1495.0  # taken from the item
    assert line["QuotationLineCostPrice"] == 900.0
    assert line["QuotationLineOrganisationId"] == org  # from the delivery
    lines = (await webcrm_api.get(f"/Deliveries/{delivery}/QuotationLines")).json()
    assert [x["QuotationLineId"] for x in lines] == [line_id]


async def test_lines_are_listed_per_delivery_updated_and_deleted(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await organisation(webcrm_api)
    one = await post(webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org})
    two = await post(webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org})
    lines = [
        await post(
            webcrm_api,
            "/QuotationLines",
            {"QuotationLineOpportunityId": d, "QuotationLineSortOrder": n},
        )
        for n, d in enumerate((one, two, one), start=1)
    ]
    assert (
        await webcrm_api.put(f"/QuotationLines/{lines[0]}", json={"QuotationLineQuantity": 2})
    ).status_code == 200
    assert (await webcrm_api.delete(f"/QuotationLines/{lines[2]}")).status_code == 200
    assert (await webcrm_api.get(f"/QuotationLines/{lines[2]}")).status_code == 404
    of_one = (await webcrm_api.get(f"/Deliveries/{one}/QuotationLines")).json()
    assert [(x["QuotationLineId"], x["QuotationLineQuantity"]) for x in of_one] == [(lines[0], 2.0)]
    assert (await webcrm_api.get("/Deliveries/99/QuotationLines")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"QuotationLineOpportunityId": 42}, {"QuotationLineOpportunityId": 0}],
    ids=["unknown delivery", "no delivery"],
)
async def test_a_line_needs_an_existing_delivery(
    webcrm_api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await webcrm_api.post("/QuotationLines", json=body)
    assert response.status_code == 400
    assert "QuotationLineOpportunityId" in response.json()["Message"]


async def test_a_line_cannot_pick_an_unknown_item(webcrm_api: httpx.AsyncClient) -> None:
    org = await organisation(webcrm_api)
    delivery = await post(webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org})
    response = await webcrm_api.post(
        "/QuotationLines",
        json={"QuotationLineOpportunityId": delivery, "QuotationLineLinkedDataId": 77},
    )
    assert response.status_code == 400


async def test_product_register_data_fields_must_not_be_empty(
    webcrm_api: httpx.AsyncClient,
) -> None:
    missing = {k: v for k, v in ITEM_DATA.items() if not k.endswith("Data7")}
    response = await webcrm_api.post("/QuotationLines/LinkedData", json=missing)
    assert response.status_code == 400
    assert "Data7" in response.json()["Message"]
    product = await item(webcrm_api, "2001")
    blanked = await webcrm_api.put(
        f"/QuotationLines/LinkedData/{product}", json={"QuotationLineLinkedDataItemData2": ""}
    )
    assert blanked.status_code == 400
    assert (await webcrm_api.get(f"/QuotationLines/LinkedData/{product}")).json()[
        "QuotationLineLinkedDataItemData2"
    ] == "-"


async def test_product_register_item_numbers_are_unique_as_the_setup_requires(
    webcrm_api: httpx.AsyncClient,
) -> None:
    setup = (await webcrm_api.get("/QuotationLines/LinkedSetup")).json()
    assert setup["QuotationLineLinkedSetupIsUniqueValueRequired"] is True
    first = await item(webcrm_api, "A-1")
    duplicate = await webcrm_api.post(
        "/QuotationLines/LinkedData", json={**ITEM_DATA, "QuotationLineLinkedDataItemData1": "a-1"}
    )
    assert duplicate.status_code == 400
    own = await webcrm_api.put(
        f"/QuotationLines/LinkedData/{first}", json={"QuotationLineLinkedDataItemPrice": 5}
    )
    assert own.status_code == 200


async def test_the_product_register_is_listed_whole_and_can_be_emptied(
    webcrm_api: httpx.AsyncClient,
) -> None:
    ids = [await item(webcrm_api, str(n)) for n in range(1, 4)]
    everything = await webcrm_api.get("/QuotationLines/LinkedData", params={"Size": 1})
    assert [i["QuotationLineLinkedDataItemId"] for i in everything.json()] == ids  # no paging
    assert everything.json()[0]["QuotationLineLinkedDataItemEntityType"] == "Product"
    assert (await webcrm_api.delete(f"/QuotationLines/LinkedData/{ids[0]}")).status_code == 200
    assert len((await webcrm_api.get("/QuotationLines/LinkedData")).json()) == 2
    assert (await webcrm_api.delete("/QuotationLines/LinkedData")).status_code == 200
    assert (await webcrm_api.get("/QuotationLines/LinkedData")).json() == []


async def test_the_linked_setup_describes_the_register(webcrm_api: httpx.AsyncClient) -> None:
    setup = (await webcrm_api.get("/QuotationLines/LinkedSetup")).json()
    assert len(setup) == 58
    assert setup["QuotationLineLinkedSetupEntityType"] == "Product"
    assert [setup[f"QuotationLineLinkedSetupUseLinkedField{n}"] for n in (1, 2, 3, 4)] == [
        True,
        True,
        True,
        False,
    ]


async def test_deliveries_sharing_a_number_cannot_be_edited_until_one_is_renumbered(
    webcrm_api: httpx.AsyncClient,
) -> None:
    org = await organisation(webcrm_api)
    first = await post(
        webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org, "DeliveryNumber": "4634"}
    )
    second = await post(
        webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org, "DeliveryNumber": "4634"}
    )
    for delivery in (first, second):
        locked = await webcrm_api.put(f"/Deliveries/{delivery}", json={"DeliveryNote": "x"})
        assert locked.status_code == 400
        assert "4634" in locked.json()["Message"]
    assert (await webcrm_api.get(f"/Deliveries/{first}")).json()["DeliveryNote"] == ""
    third = await post(
        webcrm_api, "/Deliveries", {"DeliveryOrganisationId": org, "DeliveryNumber": "9"}
    )
    assert (
        await webcrm_api.put(f"/Deliveries/{third}", json={"DeliveryNote": "y"})
    ).status_code == 200
