"""The DTO views: webCRM's "unset" conventions, timestamps, unknown fields, wire names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from webcrm_fortnox.webcrm.models import (
    WEBCRM_TZ,
    Delivery,
    FieldMetadata,
    Hook,
    LinkedDataItem,
    LinkedSetup,
    Organisation,
    Person,
    QuotationLine,
    parse_timestamp,
)

# Shaped like the recorded organisation 145 of the reference (§5.1), trimmed.
ORGANISATION_145 = {
    "OrganisationId": 145,
    "OrganisationName": "Akkurat AS 3",
    "OrganisationFax": "",
    "OrganisationVatVerifiedAt": "0001-01-01T00:00:00+00:00",
    "OrganisationType": "-- vælg --",
    "OrganisationStatus": "-- Vælg ---",
    "OrganisationIndustry": "Partner",
    "OrganisationOwner": 0,
    "OrganisationTerritoryId": 1,
    "OrganisationCreatedAt": "2018-05-02T10:39:47+00:00",
    "OrganisationUpdatedAt": "2018-06-04T08:23:55+02:00",
    "OrganisationExtraCustom8": "1522391",
    "OrganisationExtraCustom2": "",
    "OrganisationCustom5": "No",
    "OrganisationCustom6": "00: ? Item 1",
    "OrganisationPlus3": 7,
    "OrganisationCurrencyName": "EUR",
}


def test_unset_values_read_as_none() -> None:
    org = Organisation.model_validate(ORGANISATION_145)
    assert org.fax is None
    assert org.vat_verified_at is None
    assert org.type is None and org.status is None
    assert org.owner is None
    assert org.extra_custom(2) is None


def test_set_values_are_kept() -> None:
    org = Organisation.model_validate(ORGANISATION_145)
    assert org.id == 145 and org.name == "Akkurat AS 3"
    assert org.industry == "Partner"
    assert org.territory_id == 1
    assert org.extra_custom(8) == "1522391"
    assert org.custom(5) == "No" and org.custom(6) == "00: ? Item 1"
    assert org.plus(3) == 7


def test_fields_the_spec_lacks_are_kept_and_sent_back() -> None:
    org = Organisation.model_validate(ORGANISATION_145)
    assert org.wire("OrganisationCurrencyName") == "EUR"
    assert org.to_wire()["OrganisationCurrencyName"] == "EUR"


def test_numbered_families_reject_numbers_out_of_range() -> None:
    org = Organisation.model_validate(ORGANISATION_145)
    with pytest.raises(ValueError, match="1 to 8"):
        org.extra_custom(9)
    with pytest.raises(ValueError, match="1 to 15"):
        org.custom(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-06-28T08:32:53+02:00", datetime(2018, 6, 28, 6, 32, 53, tzinfo=UTC)),
        ("2018-06-01T10:00:00Z", datetime(2018, 6, 1, 10, 0, tzinfo=UTC)),
        ("2018-06-01T10:00:00.0000000Z", datetime(2018, 6, 1, 10, 0, tzinfo=UTC)),
        # no offset: webCRM's own (Copenhagen) time, CEST in June
        ("2018-06-28T08:32:53", datetime(2018, 6, 28, 6, 32, 53, tzinfo=UTC)),
        ("2018-01-15T08:00:00", datetime(2018, 1, 15, 7, 0, tzinfo=UTC)),
    ],
)
def test_timestamps_with_offset_z_or_none(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed is not None and parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00", "0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00+00:00", ""]
)
def test_unset_timestamps(text: str) -> None:
    assert parse_timestamp(text) is None


def test_naive_timestamps_follow_the_zone_given_as_context() -> None:
    delivery = Delivery.model_validate(
        {"DeliveryOrderDate": "2018-06-12T02:00:00"}, context={"naive_tz": UTC}
    )
    assert delivery.order_date == datetime(2018, 6, 12, 2, 0, tzinfo=UTC)
    assert Delivery.model_validate({"DeliveryOrderDate": "2018-06-12T02:00:00"}).order_date == (
        datetime(2018, 6, 12, 2, 0, tzinfo=WEBCRM_TZ)
    )


def test_writing_turns_none_back_into_webcrms_placeholders() -> None:
    org = Organisation(name="Acme", fax=None, owner=None, vat_verified_at=None, type=None)
    assert org.to_wire() == {
        "OrganisationName": "Acme",
        "OrganisationFax": "",
        "OrganisationOwner": 0,
        "OrganisationVatVerifiedAt": "0001-01-01T00:00:00",
        "OrganisationType": "",
    }


def test_only_assigned_fields_are_written() -> None:
    assert Person(last_name="Berg").to_wire() == {"PersonLastName": "Berg"}


def test_timestamps_are_written_with_their_offset() -> None:
    when = datetime(2024, 3, 1, 12, 30, 15, 999, tzinfo=timezone(timedelta(hours=1)))
    assert Delivery(erp_sync_date_time=when).to_wire() == {
        "DeliveryErpSyncDateTime": "2024-03-01T12:30:15+01:00"
    }


def test_numeric_strings_are_read_as_ids() -> None:
    # recorded: a production flow posts "OrganisationId": "0" (reference §4.2)
    assert Person.model_validate({"PersonOrganisationId": "145"}).organisation_id == 145
    assert Person.model_validate({"PersonOrganisationId": "0"}).organisation_id is None


def test_quotation_line_keeps_delivery_link_and_data_fields() -> None:
    line = QuotationLine.model_validate(
        {
            "QuotationLineId": 49,
            "QuotationLineOpportunityId": 158,
            "QuotationLinePersonId": 0,
            "QuotationLineData1": "200",
            "QuotationLineData2": "-",
            "QuotationLinePrice": 4051.0,
            "QuotationLineDiscount": 10.0,
        }
    )
    assert line.opportunity_id == 158 and line.person_id is None
    assert line.data(1) == "200" and line.data(2) is None and line.data(3) is None
    assert line.price == 4051.0 and line.discount == 10.0


def test_product_register_reads_query_rows_and_dto_alike() -> None:
    dto = LinkedDataItem.model_validate(
        {"QuotationLineLinkedDataItemId": 3, "QuotationLineLinkedDataItemData1": "70"}
    )
    row = LinkedDataItem.model_validate({"LinkedDataItemId": 3, "LinkedDataItemData1": "70"})
    assert dto.id == row.id == 3
    assert dto.data(1) == row.data(1) == "70"


def test_linked_setup_flags() -> None:
    setup = LinkedSetup.model_validate(
        {
            "QuotationLineLinkedSetupId": 1,
            "QuotationLineLinkedSetupUseLinkedField1": True,
            "QuotationLineLinkedSetupUseLinkedField2": False,
            "QuotationLineLinkedSetupField1": 12,
            "QuotationLineLinkedSetupIsUniqueValueRequired": True,
        }
    )
    assert setup.uses_data(1) and not setup.uses_data(2) and not setup.uses_data(3)
    assert setup.data_field(1) == 12 and setup.data_field(2) == 0
    assert setup.is_unique_value_required


def test_fields_metadata_with_dropdown_values() -> None:
    meta = FieldMetadata.model_validate(
        {
            "FieldMetadataId": 12,
            "FieldMetadataFriendlyFieldName": "OrganisationType",
            "FieldMetadataDisplayType": "D",
            "FieldMetadataDropdownListData": [
                {"Text": "Customer", "Value": "Customer"},
                {"Text": "Partner", "Value": "Partner"},
            ],
        }
    )
    assert [item.value for item in meta.dropdown_list_data] == ["Customer", "Partner"]
    assert meta.friendly_field_name == "OrganisationType"


def test_hook_names_carry_no_prefix_and_null_dates_are_none() -> None:
    hook = Hook.model_validate(
        {
            "Id": 9,
            "TargetUrl": "https://example.org/hook",
            "EventType": "Update",
            "Filter": ["All"],
            "IsEnabled": True,
            "CreatedAt": None,
        }
    )
    assert hook.id == 9 and hook.target_url.endswith("/hook") and hook.created_at is None
    assert Hook(target_url="https://x").model_dump(by_alias=True)["Filter"] == ["All"]
