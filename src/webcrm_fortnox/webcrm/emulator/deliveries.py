"""``/Deliveries``: webCRM's post-sale orders, the records invoices and orders sync with."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webcrm_fortnox.webcrm.emulator.collection import IndexSpec, folded
from webcrm_fortnox.webcrm.emulator.dto import DELIVERY, DELIVERY_STATUSES, Record
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind, EntityRules
from webcrm_fortnox.webcrm.emulator.organisations import ORGANISATIONS
from webcrm_fortnox.webcrm.emulator.persons import require_organisation
from webcrm_fortnox.webcrm.emulator.routing import SystemDep, crud_router, paged, read_json
from webcrm_fortnox.webcrm.emulator.system import System

# Quotation lines point at a delivery through QuotationLineOpportunityId (recorded: the lines of
# delivery 158 carry QuotationLineOpportunityId 158), so deliveries and opportunities share one
# id sequence.
OPPORTUNITY_SERIES = "opportunity"


class DeliveryRules(EntityRules):
    def check(self, system: System, record: Record, previous: Record | None) -> None:
        if previous is not None and previous["DeliveryNumber"].strip():
            # recorded (official ERP sync README, Q3): two deliveries with one number are both
            # created, and then neither can be edited through the API until one is renumbered
            holders = system.of(DELIVERIES).index("DeliveryNumber").ids(previous["DeliveryNumber"])
            if len(holders) > 1:
                raise bad_request(
                    f"Delivery number {previous['DeliveryNumber']} is used by deliveries "
                    f"{', '.join(map(str, holders))}; it must be unique before they can be edited."
                )
        organisation_id = record["DeliveryOrganisationId"]
        if previous is None or organisation_id != previous["DeliveryOrganisationId"]:
            require_organisation(system, organisation_id, "DeliveryOrganisationId")


DELIVERIES = EntityKind(
    name="Delivery",
    route="/Deliveries",
    dto=DELIVERY,
    id_field="DeliveryId",
    id_series=OPPORTUNITY_SERIES,
    audit_prefix="Delivery",
    derived=("DeliveryHistory",),
    indexes=(
        IndexSpec("DeliveryOrganisationId"),
        IndexSpec("DeliveryStatus"),
        IndexSpec("DeliveryNumber", folded),
    ),
    hooks=True,
    rules=DeliveryRules(),
)


def router() -> APIRouter:
    routes = crud_router(DELIVERIES)

    @routes.get("/Deliveries/ByOrganisation/{organisationId:int}")
    async def by_organisation(organisationId: int, request: Request, system: SystemDep) -> Response:
        ids = system.of(DELIVERIES).index("DeliveryOrganisationId").ids(organisationId)
        return paged(request, system, DELIVERIES, ids)

    @routes.get("/Deliveries/ByStatus/{status}")
    async def by_status(status: str, request: Request, system: SystemDep) -> Response:
        canonical = next((s for s in DELIVERY_STATUSES if s.lower() == status.lower()), None)
        if canonical is None:
            raise bad_request(f"The value '{status}' is not valid for status.")
        ids = system.of(DELIVERIES).index("DeliveryStatus").ids(canonical)
        return paged(request, system, DELIVERIES, ids)

    @routes.post("/Deliveries/{id:int}/Move")
    async def move(id: int, request: Request, system: SystemDep) -> Response:
        body = await read_json(request)
        target = body.get("NewOrganisationId") if isinstance(body, dict) else None
        if not isinstance(target, int) or system.of(ORGANISATIONS).get(target) is None:
            raise bad_request("NewOrganisationId must be the id of an existing organisation.")
        system.update(DELIVERIES, id, {"DeliveryOrganisationId": target})
        return Response(status_code=204)

    return routes
