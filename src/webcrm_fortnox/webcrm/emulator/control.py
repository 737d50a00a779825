"""The webCRM emulator's own test controls, next to the kit's under ``/_emulator/``::

GET  /_emulator/settings[?tenant=T]   a system's settings (unique fields, POST answer, …)
PUT  /_emulator/settings              {"tenant": T?, ...changes}: change them
GET  /_emulator/hooks/calls           the latest calls made to hook target URLs
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body

from webcrm_fortnox.emulation import CONTROL_PREFIX
from webcrm_fortnox.webcrm.emulator.state import WebcrmEmulator


def router(emulator: WebcrmEmulator) -> APIRouter:
    routes = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator control"])

    @routes.get("/settings")
    async def get_settings(tenant: str | None = None) -> dict[str, Any]:
        return emulator.system(tenant).settings.model_dump()

    @routes.put("/settings")
    async def put_settings(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        changes = dict(payload)
        tenant = changes.pop("tenant", None)
        return emulator.configure(tenant, changes).model_dump()

    @routes.get("/hooks/calls")
    async def hook_calls() -> dict[str, Any]:
        calls = [asdict(call) for call in emulator.hooks.calls]
        return {"pending": emulator.hooks.pending, "calls": calls}

    return routes
