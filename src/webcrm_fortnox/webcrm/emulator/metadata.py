"""``/FieldsMetadata`` and ``/QuotationLines/LinkedSetup``: how the system's fields are set up."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from webcrm_fortnox.webcrm.emulator.configuration import (
    METADATA_ENTITIES,
    METADATA_TYPES,
    field_metadata,
    linked_setup,
)
from webcrm_fortnox.webcrm.emulator.dto import Record
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.routing import SystemDep


def metadata_for(entity_types: str) -> list[Record]:
    """The field metadata of one type, ``All``, or a comma-separated list of types.

    Raises:
        WebcrmError: 400 for a type the specification does not list.
    """
    by_lower = {name.lower(): name for name in METADATA_TYPES}
    wanted: list[str] = []
    for raw in entity_types.split(","):
        name = by_lower.get(raw.strip().lower())
        if name is None:
            raise bad_request(f"The value '{raw.strip()}' is not valid for entityTypes.")
        wanted.extend(METADATA_ENTITIES if name == "All" else [name])
    # types without emulated fields (Activity, Event, ...) have none configured
    return [
        m
        for name in dict.fromkeys(wanted)
        if name in METADATA_ENTITIES
        for m in field_metadata(name)
    ]


def router() -> APIRouter:
    routes = APIRouter(tags=["Configuration"])

    @routes.get("/FieldsMetadata")
    async def all_fields(system: SystemDep) -> Response:
        return JSONResponse(metadata_for("All"))

    @routes.get("/FieldsMetadata/{entityTypes}")
    async def fields_of(entityTypes: str, system: SystemDep) -> Response:
        return JSONResponse(metadata_for(entityTypes))

    @routes.get("/QuotationLines/LinkedSetup")
    async def quotation_line_linked_setup(system: SystemDep) -> Response:
        return JSONResponse(linked_setup())

    return routes
