"""Hooks: per-entity subscriptions (``/Organisations/Hooks`` …) and the calls they make.

The subscriptions are the specification's. What webCRM sends to ``TargetUrl`` is documented
nowhere, so the call is ours to define: a ``POST`` of ``{"entity": "Organisation", "id": 145,
"event": "Update"}`` (``event`` one of Create, Update, Delete) to every enabled hook of the entity
whose ``EventType`` is that event and whose ``Filter`` holds ``All`` (the other filters name the
token's user, and an application token has none). Calls are fire-and-forget with a short timeout:
the API answers without waiting for them, and a failed call is not retried.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter

from webcrm_fortnox.webcrm.emulator.deliveries import DELIVERIES
from webcrm_fortnox.webcrm.emulator.dto import (
    DELIVERY_HOOK,
    ORGANISATION_HOOK,
    PERSON_HOOK,
    QUOTATION_LINE_HOOK,
    DtoSpec,
    Record,
)
from webcrm_fortnox.webcrm.emulator.errors import bad_request
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind, EntityRules
from webcrm_fortnox.webcrm.emulator.organisations import ORGANISATIONS
from webcrm_fortnox.webcrm.emulator.persons import PERSONS
from webcrm_fortnox.webcrm.emulator.quotation_lines import QUOTATION_LINES
from webcrm_fortnox.webcrm.emulator.routing import crud_router
from webcrm_fortnox.webcrm.emulator.system import System


class HookRules(EntityRules):
    def check(self, system: System, record: Record, previous: Record | None) -> None:
        # TargetUrl and Filter are [Required] reference types, so ASP.NET refuses them missing
        target = urlsplit(record["TargetUrl"])
        if target.scheme not in ("http", "https") or not target.netloc:
            raise bad_request("The TargetUrl field is required and must be an absolute URL.")
        if not record["Filter"]:
            raise bad_request("The Filter field is required.")


def _hook_kind(entity: EntityKind, dto: DtoSpec) -> EntityKind:
    return EntityKind(
        name=f"{entity.name}Hook",
        route=f"{entity.route}/Hooks",
        dto=dto,
        id_field="Id",
        id_series="hook",
        audit_prefix="",
        rules=HookRules(),
    )


HOOK_KINDS = {
    entity.name: _hook_kind(entity, dto)
    for entity, dto in (
        (ORGANISATIONS, ORGANISATION_HOOK),
        (PERSONS, PERSON_HOOK),
        (DELIVERIES, DELIVERY_HOOK),
        (QUOTATION_LINES, QUOTATION_LINE_HOOK),
    )
}


@dataclass(frozen=True)
class HookCall:
    """One call made to a hook's ``TargetUrl``: its outcome is a status or an error text."""

    url: str
    payload: dict[str, Any]
    status: int | None
    error: str | None = None


class HookDispatcher:
    """Makes the hook calls in the background and remembers the latest outcomes.

    Args:
        transport: the HTTP transport for the calls (tests pass a mock); the network by default.
        timeout: seconds a call may take before it is abandoned.
    """

    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 2.0
    ) -> None:
        self._transport = transport
        self._timeout = timeout
        self._pending: set[asyncio.Task[None]] = set()
        self.calls: deque[HookCall] = deque(maxlen=1000)

    def announce(self, system: System, kind: EntityKind, record_id: int, event: str) -> None:
        """Call the hooks ``system`` has for ``event`` on ``kind`` (without waiting)."""
        hook_kind = HOOK_KINDS.get(kind.name) if kind.hooks else None
        if hook_kind is None:
            return
        hooks = system.of(hook_kind)
        payload = {"entity": kind.name, "id": record_id, "event": event}
        for hook in hooks.records(hooks.ids):
            if hook["IsEnabled"] and hook["EventType"] == event and "All" in hook["Filter"]:
                self._start(hook["TargetUrl"], payload)

    def _start(self, url: str, payload: dict[str, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a write outside any request (seeding): nobody to tell
            return
        task = loop.create_task(self._call(url, payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _call(self, url: str, payload: dict[str, Any]) -> None:
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as http:
                response = await http.post(url, json=payload)
            self.calls.append(HookCall(url, payload, response.status_code))
        except httpx.HTTPError as exc:
            self.calls.append(HookCall(url, payload, None, f"{type(exc).__name__}: {exc}"))

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def drain(self) -> None:
        """Wait until every call started so far has finished (for tests and shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def routers() -> list[APIRouter]:
    return [crud_router(kind, bulk=False, delete=True) for kind in HOOK_KINDS.values()]
