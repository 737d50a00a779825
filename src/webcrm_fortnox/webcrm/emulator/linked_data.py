"""``/QuotationLines/LinkedData``: the product register quotation lines pick items from."""

from __future__ import annotations

from fastapi import APIRouter

from webcrm_fortnox.webcrm.emulator.collection import IndexSpec, folded
from webcrm_fortnox.webcrm.emulator.configuration import linked_setup
from webcrm_fortnox.webcrm.emulator.dto import LINKED_DATA_ITEM, Record
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind, EntityRules
from webcrm_fortnox.webcrm.emulator.routing import crud_router
from webcrm_fortnox.webcrm.emulator.system import System

PREFIX = "QuotationLineLinkedDataItem"
DATA_FIELDS = tuple(f"{PREFIX}Data{n}" for n in range(1, 10))
KEY_FIELD = f"{PREFIX}Data1"  # the item number in the seeded LinkedSetup


class LinkedDataRules(EntityRules):
    def check(self, system: System, record: Record, previous: Record | None) -> None:
        for field in DATA_FIELDS:
            # recorded: QuotationLineLinkedDataItemDto.cs writes "-" because empty is refused
            if not record[field].strip():
                raise bad_request(f"{field} must not be empty (write '-' for no value).")
        if linked_setup()["QuotationLineLinkedSetupIsUniqueValueRequired"]:
            own_id = previous[f"{PREFIX}Id"] if previous else None
            holders = system.of(LINKED_DATA).index(KEY_FIELD).ids(record[KEY_FIELD])
            if any(i != own_id for i in holders):
                raise bad_request(f"{KEY_FIELD} '{record[KEY_FIELD]}' is already in use.")


LINKED_DATA = EntityKind(
    name="QuotationLineLinkedData",
    route="/QuotationLines/LinkedData",
    dto=LINKED_DATA_ITEM,
    id_field=f"{PREFIX}Id",
    id_series="linked_data",
    indexes=(IndexSpec(KEY_FIELD, folded),),
    rules=LinkedDataRules(),
)


def router() -> APIRouter:
    # the specification gives the register no paging and a DELETE of everything
    return crud_router(LINKED_DATA, paginated=False, bulk=False, delete=True, delete_all=True)
