"""What every webCRM route shares: the Bearer check, paging, JSON bodies, and the generic
list / get / create / update / bulk / delete routes each entity is served with."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from webcrm_fortnox.webcrm.emulator.collection import page_of
from webcrm_fortnox.webcrm.emulator.dto import Record
from webcrm_fortnox.webcrm.emulator.errors import NotAuthenticated, bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind
from webcrm_fortnox.webcrm.emulator.system import System

MAX_PAGE = 1_000_000
MAX_SIZE = 1000
DEFAULT_SIZE = 50  # undocumented; small enough that a client relying on it notices


class SystemResolver(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> System | None:
        """The system an ``Authorization: Bearer`` header gives access to, if it is valid."""
        ...


def current_system(request: Request) -> System:
    """The system of the request's access token; 401 when it is missing, unknown or expired."""
    resolver: SystemResolver = request.app.state.webcrm
    system = resolver.authenticate(request.headers)
    if system is None:
        raise NotAuthenticated()
    return system


SystemDep = Annotated[System, Depends(current_system)]


def query_param(request: Request, name: str) -> str | None:
    """A query parameter matched case-insensitively (ASP.NET binds ``page`` to ``Page``)."""
    wanted = name.lower()
    for key, value in request.query_params.multi_items():
        if key.lower() == wanted:
            return value
    return None


def _bounded(request: Request, name: str, default: int, high: int) -> int:
    raw = query_param(request, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"The value '{raw}' is not valid for {name}.") from None
    if not 1 <= value <= high:
        raise bad_request(f"The field {name} must be between 1 and {high}.")
    return value


def paging(request: Request) -> tuple[int, int]:
    """``(Page, Size)``: Page 1…1,000,000 and Size 1…1000 as the specification bounds them."""
    return _bounded(request, "Page", 1, MAX_PAGE), _bounded(request, "Size", DEFAULT_SIZE, MAX_SIZE)


async def read_json(request: Request) -> Any:
    """The parsed JSON body; 400 when it is missing or malformed."""
    raw = await request.body()
    if not raw.strip():
        raise bad_request("A non-empty request body is required.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}") from None


def ok() -> Response:
    """200 with an empty body: what PUT and DELETE answer."""
    return Response(status_code=200)


def listing(kind: EntityKind, records: list[Record]) -> JSONResponse:
    return JSONResponse([kind.dto.project(r) for r in records])


def paged(request: Request, system: System, kind: EntityKind, ids: list[int]) -> JSONResponse:
    """One page of ``ids`` (ascending) as a bare JSON array; ``[]`` past the end."""
    page, size = paging(request)
    return listing(kind, system.of(kind).records(page_of(ids, page, size)))


CreatedResponse = Callable[[System, EntityKind, Record], Response]


def created_id(system: System, kind: EntityKind, record: Record) -> Response:
    """200 with the new id as a bare JSON integer (every create but Organisations')."""
    return JSONResponse(record[kind.id_field])


def crud_router(
    kind: EntityKind,
    *,
    paginated: bool = True,
    bulk: bool = True,
    delete: bool = False,
    delete_all: bool = False,
    created: CreatedResponse = created_id,
) -> APIRouter:
    """The standard routes of ``kind`` under ``kind.route``, as the specification lists them."""
    router = APIRouter(tags=[kind.name])
    base = kind.route

    @router.get(base)
    async def list_all(request: Request, system: SystemDep) -> Response:
        ids = system.of(kind).ids
        if paginated:
            return paged(request, system, kind, ids)
        return listing(kind, system.of(kind).records(ids))

    @router.get(base + "/{id:int}")
    async def get_one(id: int, system: SystemDep) -> Response:
        return JSONResponse(kind.dto.project(system.get(kind, id)))

    @router.post(base)
    async def create(request: Request, system: SystemDep) -> Response:
        record = system.create(kind, await read_json(request))
        return created(system, kind, record)

    @router.put(base + "/{id:int}")
    async def update(id: int, request: Request, system: SystemDep) -> Response:
        system.update(kind, id, await read_json(request))
        return ok()

    if bulk:

        @router.patch(base)
        async def upsert(request: Request, system: SystemDep) -> Response:
            return JSONResponse(system.upsert_many(kind, await read_json(request)))

    if delete:

        @router.delete(base + "/{id:int}")
        async def remove(id: int, system: SystemDep) -> Response:
            system.delete(kind, id)
            return ok()

    if delete_all:

        @router.delete(base)
        async def remove_all(system: SystemDep) -> Response:
            system.delete_all(kind)
            return ok()

    return router
