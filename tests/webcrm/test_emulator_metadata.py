"""Emulator: /FieldsMetadata describes the fields in use, with the seeded dropdown values."""

from __future__ import annotations

import httpx


async def test_metadata_of_one_entity_type(webcrm_api: httpx.AsyncClient) -> None:
    fields = (await webcrm_api.get("/FieldsMetadata/Organisation")).json()
    by_name = {f["FieldMetadataFriendlyFieldName"]: f for f in fields}
    assert {f["FieldMetadataFriendlyFieldName"][:12] for f in fields} == {"Organisation"}
    org_type = by_name["OrganisationType"]
    assert org_type["FieldMetadataDisplayType"] == "D"
    assert {"Text": "Customer", "Value": "Customer"} in org_type["FieldMetadataDropdownListData"]
    assert by_name["OrganisationName"]["FieldMetadataTextFieldMaxLength"] == 200
    terms = by_name["OrganisationCustom5"]
    assert terms["FieldMetadataLabel"] == "Betalningsvillkor"
    assert {"Text": "30", "Value": "00: 30"} in terms["FieldMetadataDropdownListData"]
    # custom fields nobody configured are not described
    assert "OrganisationCustom15" not in by_name
    assert "OrganisationPlus1" not in by_name
    assert len({f["FieldMetadataId"] for f in fields}) == len(fields)


async def test_metadata_of_several_types_and_of_all(webcrm_api: httpx.AsyncClient) -> None:
    both = (await webcrm_api.get("/FieldsMetadata/person,Delivery")).json()
    prefixes = {f["FieldMetadataFriendlyFieldName"].split("Custom")[0][:6] for f in both}
    assert prefixes == {"Person", "Delive"}
    everything = (await webcrm_api.get("/FieldsMetadata")).json()
    assert len((await webcrm_api.get("/FieldsMetadata/All")).json()) == len(everything)
    assert len(everything) > len(both)
    assert (await webcrm_api.get("/FieldsMetadata/Activity")).json() == []


async def test_an_unknown_entity_type_is_a_bad_request(webcrm_api: httpx.AsyncClient) -> None:
    response = await webcrm_api.get("/FieldsMetadata/Invoice")
    assert response.status_code == 400
    assert "Invoice" in response.json()["Message"]
