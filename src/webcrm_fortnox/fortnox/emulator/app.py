"""Building the emulator's ASGI app: ``/3/`` REST, ``/oauth-v1/``, ``/topics-v1`` and the kit."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from webcrm_fortnox.emulation import EmulatorClock, EmulatorKit, Storage, install
from webcrm_fortnox.emulation.kit import ASGIApp, Receive, Scope, Send
from webcrm_fortnox.fortnox.emulator import (
    articles,
    customers,
    documents,
    errors,
    oauth,
    prices,
    registers,
)
from webcrm_fortnox.fortnox.emulator.api import Unauthorized
from webcrm_fortnox.fortnox.emulator.collection import crud_routes
from webcrm_fortnox.fortnox.emulator.state import FortnoxEmulator
from webcrm_fortnox.fortnox.emulator.topics import serve_topics

RATE_LIMIT = (25, 5.0)  # reference §3: 25 requests per sliding 5 s per client and tenant


class _TrailingSlash:
    """Serve ``/3/customers/`` like ``/3/customers`` (the Ruby client always adds the slash and
    gets 200s, recorded: customers/all.yml), without FastAPI's redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/3/") and path.endswith("/"):
            # in place, so the kit's statistics see the route the router picks
            scope["path"] = path.rstrip("/")
        await self.app(scope, receive, send)


def create_app(
    *,
    data: Path | None = None,
    client_id: str = "emulator",
    client_secret: str = "emulator-secret",
    tenant_id: int = 1,
    seed: str = "demo",
    rate_limit: bool = True,
    clock: EmulatorClock | None = None,
    token_ttl: int = 3600,
) -> FastAPI:
    """The Fortnox API v3 emulator as an ASGI app.

    Args:
        data: SQLite file to keep state across restarts (memory only when None).
        client_id: the OAuth client it knows from the start.
        client_secret: that client's secret.
        tenant_id: the default company's TenantId (= ``DatabaseNumber``).
        seed: ``demo`` or ``empty`` data for the default company when it is first created.
        rate_limit: enforce 25 requests per 5 s per client and tenant.
        clock: the emulated clock (tests pass their own to move time).
        token_ttl: access-token lifetime in seconds.

    Returns:
        The app; its state object is ``app.state.fortnox`` (a :class:`FortnoxEmulator`).
    """
    kit = EmulatorKit(
        rate_limit=RATE_LIMIT if rate_limit else None,
        clock=clock or EmulatorClock(),
        storage=Storage(data),
    )
    emulator = FortnoxEmulator(
        kit,
        client_id=client_id,
        client_secret=client_secret,
        tenant_id=tenant_id,
        seed=seed,
        token_ttl=token_ttl,
    )
    app = FastAPI(title="Fortnox API v3 emulator", redirect_slashes=False)
    app.state.fortnox = emulator
    app.state.kit = kit

    api = APIRouter(prefix="/3")
    crud_routes(api, customers.CUSTOMERS)
    crud_routes(api, articles.ARTICLES)
    prices.routes(api)
    documents.routes(api)
    registers.routes(api)
    app.include_router(api)
    app.include_router(oauth.router)

    @app.exception_handler(errors.FortnoxError)
    async def fortnox_error(request: Request, exc: errors.FortnoxError) -> Response:
        return exc.response()

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> Response:
        return errors.unauthorized()

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> Response:
        return errors.invalid(errors.INVALID_PARAMETER).response()

    @app.websocket("/topics-v1")
    async def topics(websocket: WebSocket) -> None:
        def tenant_of(secret: str, token: str) -> int | None:
            grant = emulator.tokens.lookup(token)
            if grant is None:
                return None
            # the OAuth2-era need for clientSecret is unconfirmed: accept it absent, check it given
            if secret and emulator.client_secret(grant.client_id) != secret:
                return None
            return grant.tenant_id

        await serve_topics(websocket, emulator.events, kit.faults, tenant_of)

    app.add_middleware(_TrailingSlash)
    install(app, kit, emulator)
    return app
