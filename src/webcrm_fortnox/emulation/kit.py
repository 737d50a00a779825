"""The kit both emulators share: clock, storage, rate limit, faults, statistics and control routes.

A vendor emulator is a FastAPI app holding an :class:`EmulatorKit` and implementing
:class:`EmulatedVendor`; :func:`install` wraps the app in the middleware that enforces the rate
limit, injects faults, counts requests and dates every answer by the emulator's clock (the
``Date`` header a real server sends, which webCRM's client reads as webCRM's time), and mounts
the control routes under ``/_emulator/`` (a prefix no vendor route can have)::

    GET    /_emulator/health               {"ok": true, "vendor": ...}
    GET    /_emulator/stats[?tenant=T]     request counts by tenant, method, route, status
    DELETE /_emulator/stats                zero them
    GET    /_emulator/faults               the fault settings
    PUT    /_emulator/faults               replace them (FaultSettings; absent keys = off)
    GET    /_emulator/clock                {"now": ISO, "offset_seconds": n}
    POST   /_emulator/clock/advance        {"seconds": n}: move time forward
    POST   /_emulator/reset                forget all data, tokens, stats and faults
    POST   /_emulator/seed                 {"tenant": T?, "seed": "demo"|"empty", ...}
    POST   /_emulator/tenants              add a tenant; the vendor returns its credentials
    POST   /_emulator/tokens/expire        expire every access token now
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from webcrm_fortnox.emulation.clock import EmulatorClock
from webcrm_fortnox.emulation.faults import FaultInjector, FaultSettings
from webcrm_fortnox.emulation.stats import RequestStats
from webcrm_fortnox.emulation.storage import Storage
from webcrm_fortnox.transport.ratelimit import SlidingWindow

CONTROL_PREFIX = "/_emulator"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Caller:
    """Who an API request comes from, as the vendor's auth sees it.

    Attributes:
        tenant: the tenant (company, webCRM system) the request acts on; keys statistics.
        rate_key: what the vendor's rate limit counts per (Fortnox: client and tenant).
    """

    tenant: str
    rate_key: str


class EmulatedVendor(Protocol):
    """What a vendor emulator tells the kit."""

    name: str

    def is_api_path(self, path: str) -> bool:
        """Whether rate limits and faults apply to ``path`` (not to OAuth or control routes)."""
        ...

    def identify(self, headers: dict[str, str]) -> Caller | None:
        """The caller of a request with these (lower-cased) headers, or None if unauthenticated."""
        ...

    def rate_limited(self, retry_after: float) -> Response:
        """The vendor's own 429 response."""
        ...

    def server_error(self, status: int) -> Response:
        """The vendor's own 5xx response."""
        ...

    def spurious_unauthorized(self) -> Response:
        """The vendor's 401 response."""
        ...

    def reset(self) -> None: ...

    def seed(self, tenant: str | None, kind: str, options: dict[str, Any]) -> dict[str, Any]: ...

    def add_tenant(self, options: dict[str, Any]) -> dict[str, Any]: ...

    def expire_tokens(self) -> None: ...


@dataclass
class EmulatorKit:
    """Shared state of one emulator process.

    Attributes:
        rate_limit: (requests, period in seconds) per rate key, or ``None`` to disable.
    """

    rate_limit: tuple[int, float] | None
    clock: EmulatorClock = field(default_factory=EmulatorClock)
    storage: Storage = field(default_factory=Storage)
    stats: RequestStats = field(default_factory=RequestStats)
    faults: FaultInjector = field(default_factory=FaultInjector)
    windows: dict[str, SlidingWindow] = field(default_factory=dict)

    def check_rate(self, key: str) -> float:
        """0.0 if a request under ``key`` is admitted now, else seconds until one would be."""
        if self.rate_limit is None:
            return 0.0
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = SlidingWindow(*self.rate_limit)
        return window.try_acquire(self.clock.monotonic())


class EmulatedConnectionDrop(ConnectionResetError):
    """Raised mid-response to make the server abort the connection, as a flaky network does."""


class _KitMiddleware:
    def __init__(self, app: ASGIApp, kit: EmulatorKit, vendor: EmulatedVendor) -> None:
        self.app = app
        self.kit = kit
        self.vendor = vendor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http":
            send = _dated(send, self.kit.clock)
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        if not self.vendor.is_api_path(path):
            await self._counted(scope, receive, send, tenant=None)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        caller = self.vendor.identify(headers)
        tenant = caller.tenant if caller else None
        faults = self.kit.faults
        settings = faults.settings
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        if faults.take_forced_429():
            await self._answer(scope, receive, send, tenant, self.vendor.rate_limited(5.0))
            return
        if faults.take_forced_5xx():
            response = self.vendor.server_error(settings.error_status)
            await self._answer(scope, receive, send, tenant, response)
            return
        if faults.chance(settings.drop_rate):
            self.kit.stats.record(tenant, scope["method"], _route_of(scope), 0)
            await _drop(send)
        if caller is not None:
            wait = self.kit.check_rate(caller.rate_key)
            if wait:
                await self._answer(scope, receive, send, tenant, self.vendor.rate_limited(wait))
                return
            if faults.chance(settings.spurious_401_rate):
                response = self.vendor.spurious_unauthorized()
                await self._answer(scope, receive, send, tenant, response)
                return
        if faults.chance(settings.drop_after_rate):
            await self._carried_out_then_dropped(scope, receive, send, tenant)
            return
        await self._counted(scope, receive, send, tenant=tenant)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, tenant: str | None, response: Response
    ) -> None:
        self.kit.stats.record(tenant, scope["method"], _route_of(scope), response.status_code)
        await response(scope, receive, send)

    async def _counted(
        self, scope: Scope, receive: Receive, send: Send, tenant: str | None
    ) -> None:
        status = 0

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            identified = tenant or scope.get("emulator.tenant")
            self.kit.stats.record(identified, scope["method"], _route_of(scope), status)

    async def _carried_out_then_dropped(
        self, scope: Scope, receive: Receive, send: Send, tenant: str | None
    ) -> None:
        """Run the request to completion, then lose its response: the case that makes duplicates."""
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        status = next((int(m["status"]) for m in captured if m["type"] == "http.response.start"), 0)
        self.kit.stats.record(tenant, scope["method"], _route_of(scope), status)
        await _drop(send, captured[0] if captured else None)


def _dated(send: Send, clock: EmulatorClock) -> Send:
    """``send`` with the ``Date`` header set from ``clock`` (the server's own one is off)."""

    async def dated_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
            headers.append((b"date", formatdate(clock.timestamp(), usegmt=True).encode()))
            message = {**message, "headers": headers}
        await send(message)

    return dated_send


async def _drop(send: Send, start: Message | None = None) -> None:
    """Start a response that promises a body, send part of it, and abort the connection."""
    await send(
        start
        or {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise EmulatedConnectionDrop("emulated connection drop")


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    return str(template) if template else str(scope.get("path", ""))


def control_router(kit: EmulatorKit, vendor: EmulatedVendor) -> APIRouter:
    """The ``/_emulator/`` routes (see the module docstring)."""
    # Every route is async so that it runs on the event loop, serialised with the API requests,
    # never in a worker thread beside them (the vendors' state is not thread-safe).
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator control"])

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "vendor": vendor.name}

    @router.get("/stats")
    async def stats(tenant: str | None = None) -> dict[str, Any]:
        return kit.stats.snapshot(tenant)

    @router.delete("/stats")
    async def reset_stats() -> dict[str, Any]:
        kit.stats.reset()
        return {"ok": True}

    @router.get("/faults")
    async def get_faults() -> FaultSettings:
        return kit.faults.settings

    @router.put("/faults")
    async def put_faults(settings: FaultSettings) -> FaultSettings:
        kit.faults.configure(settings)
        return kit.faults.settings

    @router.get("/clock")
    async def get_clock() -> dict[str, Any]:
        return {"now": kit.clock.now().isoformat(), "offset_seconds": kit.clock.offset}

    @router.post("/clock/advance")
    async def advance(seconds: float = Body(..., embed=True, ge=0)) -> dict[str, Any]:
        kit.clock.advance(seconds)
        return await get_clock()

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        vendor.reset()
        kit.stats.reset()
        kit.faults.configure(FaultSettings())
        kit.windows.clear()
        return {"ok": True}

    @router.post("/seed")
    async def seed(payload: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        options = dict(payload or {})
        tenant = options.pop("tenant", None)
        kind = options.pop("seed", "demo")
        return vendor.seed(None if tenant is None else str(tenant), str(kind), options)

    @router.post("/tenants")
    async def add_tenant(
        payload: Annotated[dict[str, Any] | None, Body()] = None,
    ) -> dict[str, Any]:
        return vendor.add_tenant(payload or {})

    @router.post("/tokens/expire")
    async def expire_tokens() -> dict[str, Any]:
        vendor.expire_tokens()
        return {"ok": True}

    return router


def install(app: FastAPI, kit: EmulatorKit, vendor: EmulatedVendor) -> None:
    """Add the kit's middleware and control routes to a vendor's app."""
    app.include_router(control_router(kit, vendor))

    @app.exception_handler(EmulatedConnectionDrop)
    async def _never(request: Request, exc: EmulatedConnectionDrop) -> JSONResponse:
        raise exc  # let the drop reach the server, which aborts the connection

    app.add_middleware(_KitMiddleware, kit=kit, vendor=vendor)
