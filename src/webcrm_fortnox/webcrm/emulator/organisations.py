"""``/Organisations``: the customers, prospects and suppliers of a webCRM system."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from webcrm_fortnox.webcrm.emulator.collection import IndexSpec, folded
from webcrm_fortnox.webcrm.emulator.dto import ORGANISATION, Record
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind, EntityRules
from webcrm_fortnox.webcrm.emulator.routing import SystemDep, crud_router, paged
from webcrm_fortnox.webcrm.emulator.system import EXTRA_CUSTOM_FIELDS, System
from webcrm_fortnox.webcrm.emulator.timestamps import parse_time, sort_key


def compare_name(name: str) -> str:
    """``OrganisationCompareName``: recorded "Akkurat AS 3" → "AKKURATAS3" (letters, digits)."""
    return "".join(ch for ch in name.upper() if ch.isalnum())


def telephone_search(*numbers: str) -> str:
    """``*TelephoneSearch``: recorded "0115 871 3702" → "-01158713702-"."""
    digits = ["".join(ch for ch in number if ch.isdigit()) for number in numbers]
    kept = [d for d in digits if d]
    return f"-{'-'.join(kept)}-" if kept else ""


class OrganisationRules(EntityRules):
    def derive(self, record: Record) -> None:
        record["OrganisationCompareName"] = compare_name(record["OrganisationName"])
        record["OrganisationTelephoneSearch"] = telephone_search(record["OrganisationTelephone"])

    def check(self, system: System, record: Record, previous: Record | None) -> None:
        own_id = previous["OrganisationId"] if previous else None
        for field in system.settings.unique_fields:
            value = record.get(field, "")
            if not str(value).strip():
                continue  # an empty value is never a duplicate
            holders = system.of(ORGANISATIONS).index(field).ids(value)
            clash = next((i for i in holders if i != own_id), None)
            if clash is not None:
                raise bad_request(
                    f"The value '{value}' of {field} must be unique; organisation {clash} has it."
                )


ORGANISATIONS = EntityKind(
    name="Organisation",
    route="/Organisations",
    dto=ORGANISATION,
    id_field="OrganisationId",
    id_series="organisation",
    audit_prefix="Organisation",
    derived=("OrganisationCompareName", "OrganisationTelephoneSearch", "OrganisationHistory"),
    indexes=tuple(IndexSpec(field, folded) for field in EXTRA_CUSTOM_FIELDS),
    hooks=True,
    rules=OrganisationRules(),
)


def organisation_created(system: System, kind: EntityKind, record: Record) -> Response:
    """``POST /Organisations``: the 2019 specification documents no body; later clients read
    ``OrganisationId`` from an object (reference Q1), so the answer is configurable per system."""
    mode = system.settings.organisation_post_response
    if mode == "int":
        return JSONResponse(record["OrganisationId"])
    if mode == "empty":
        return Response(status_code=200)
    return JSONResponse(ORGANISATION.project(record))


def _path_time(raw: str, name: str) -> datetime:
    try:
        parsed = parse_time(raw)
    except ValueError:
        raise bad_request(f"The value '{raw}' is not valid for {name}.") from None
    if parsed is None:
        return sort_key("")
    return parsed


def _between(system: System, field: str, start: str, end: str) -> list[int]:
    """Ids of organisations whose ``field`` lies in ``[start, end)``, ascending."""
    low, high = _path_time(start, "startDate"), _path_time(end, "endDate")
    collection = system.of(ORGANISATIONS)
    return [
        record_id
        for record_id in collection.ids
        if low <= sort_key((collection.get(record_id) or {}).get(field, "")) < high
    ]


def router() -> APIRouter:
    routes = crud_router(ORGANISATIONS, created=organisation_created)

    @routes.get("/Organisations/FindByUpdateDates/{startDate}/{endDate}")
    async def find_by_update_dates(
        startDate: str, endDate: str, request: Request, system: SystemDep
    ) -> Response:
        ids = _between(system, "OrganisationUpdatedAt", startDate, endDate)
        return paged(request, system, ORGANISATIONS, ids)

    @routes.get("/Organisations/FindByCreateDates/{startDate}/{endDate}")
    async def find_by_create_dates(
        startDate: str, endDate: str, request: Request, system: SystemDep
    ) -> Response:
        ids = _between(system, "OrganisationCreatedAt", startDate, endDate)
        return paged(request, system, ORGANISATIONS, ids)

    return routes
