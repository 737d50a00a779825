"""``/QuotationLines``: the item lines of deliveries (and opportunities)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webcrm_fortnox.webcrm.emulator.collection import IndexSpec
from webcrm_fortnox.webcrm.emulator.deliveries import DELIVERIES
from webcrm_fortnox.webcrm.emulator.dto import QUOTATION_LINE, QUOTATION_LINE_UPDATE, Record
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind, EntityRules
from webcrm_fortnox.webcrm.emulator.linked_data import LINKED_DATA
from webcrm_fortnox.webcrm.emulator.linked_data import PREFIX as ITEM
from webcrm_fortnox.webcrm.emulator.routing import SystemDep, crud_router, paged
from webcrm_fortnox.webcrm.emulator.system import System

PARENT = "QuotationLineOpportunityId"

# What a line takes over from the product-register item it is picked from (reference §5.4:
# a line's Data1..9 are copied from the item's), unless the write sets it itself.
_FROM_ITEM = {
    **{f"QuotationLineData{n}": f"{ITEM}Data{n}" for n in range(1, 10)},
    "QuotationLinePrice": f"{ITEM}Price",
    "QuotationLineListPrice": f"{ITEM}Price",
    "QuotationLineCostPrice": f"{ITEM}CostPrice",
    "QuotationLineMemo": f"{ITEM}DataMemo",
}


class QuotationLineRules(EntityRules):
    def prepare(self, system: System, values: Record, previous: Record | None) -> None:
        item_id = values.pop("QuotationLineLinkedDataId", 0)
        if item_id:
            item = system.of(LINKED_DATA).get(item_id)
            if item is None:
                raise bad_request(f"QuotationLineLinkedDataId: item {item_id} does not exist.")
            for line_field, item_field in _FROM_ITEM.items():
                values.setdefault(line_field, item[item_field])
        parent = system.of(DELIVERIES).get(values.get(PARENT, 0))
        if previous is None and parent and not values.get("QuotationLineOrganisationId"):
            values["QuotationLineOrganisationId"] = parent["DeliveryOrganisationId"]

    def check(self, system: System, record: Record, previous: Record | None) -> None:
        moved = previous is None or record[PARENT] != previous[PARENT]
        if moved and system.of(DELIVERIES).get(record[PARENT]) is None:
            raise bad_request(f"{PARENT}: delivery {record[PARENT]} does not exist.")


QUOTATION_LINES = EntityKind(
    name="QuotationLine",
    route="/QuotationLines",
    dto=QUOTATION_LINE,
    write_dto=QUOTATION_LINE_UPDATE,
    id_field="QuotationLineId",
    id_series="quotation_line",
    audit_prefix="QuotationLine",
    indexes=(IndexSpec(PARENT),),
    hooks=True,
    rules=QuotationLineRules(),
)


def router() -> APIRouter:
    routes = crud_router(QUOTATION_LINES, delete=True)

    @routes.get("/Deliveries/{id:int}/QuotationLines")
    async def of_delivery(id: int, request: Request, system: SystemDep) -> Response:
        system.get(DELIVERIES, id)
        ids = system.of(QUOTATION_LINES).index(PARENT).ids(id)
        return paged(request, system, QUOTATION_LINES, ids)

    return routes
