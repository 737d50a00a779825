"""The ASGI app of the webCRM REST API emulator."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from webcrm_fortnox.emulation import EmulatorClock, EmulatorKit, Storage, install
from webcrm_fortnox.webcrm.emulator import (
    auth,
    control,
    deliveries,
    hooks,
    linked_data,
    metadata,
    organisations,
    persons,
    queries,
    quotation_lines,
)
from webcrm_fortnox.webcrm.emulator.errors import install_error_handlers
from webcrm_fortnox.webcrm.emulator.state import DEFAULT_API_TOKEN, WebcrmEmulator

# recorded (api.webcrm.com landing page, reference §3.1): 250 requests per sliding minute
RATE_LIMIT = (250, 60.0)


def create_app(
    *,
    data: Path | None = None,
    api_token: str = DEFAULT_API_TOKEN,
    seed: str = "demo",
    rate_limit: bool = True,
    clock: EmulatorClock | None = None,
    token_ttl: int = 3600,
    hook_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the emulator of ``https://api.webcrm.com``.

    Args:
        data: SQLite file to keep every system's state in across restarts (memory if ``None``).
        api_token: the application token (``authCode``) of the system that always exists.
        seed: ``demo`` data or ``empty`` for that system when it is new.
        rate_limit: enforce 250 requests per sliding minute per application token.
        clock: the emulated clock (tests pass one to move time instead of sleeping).
        token_ttl: seconds an access token lasts.
        hook_transport: the HTTP transport hook calls use (tests pass a mock).

    Returns:
        The app; its :class:`WebcrmEmulator` is ``app.state.webcrm``.
    """
    kit = EmulatorKit(
        rate_limit=RATE_LIMIT if rate_limit else None,
        clock=clock or EmulatorClock(),
        storage=Storage(data),
    )
    emulator = WebcrmEmulator(
        kit,
        api_token=api_token,
        seed=seed,
        token_ttl=token_ttl,
        hooks=hooks.HookDispatcher(hook_transport),
    )
    app = FastAPI(
        title="webCRM REST API emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.webcrm = emulator
    install_error_handlers(app)
    for router in (
        auth.router(),
        organisations.router(),
        persons.router(),
        deliveries.router(),
        quotation_lines.router(),
        linked_data.router(),
        metadata.router(),
        queries.router(),
        *hooks.routers(),
        control.router(emulator),
    ):
        app.include_router(router)
    install(app, kit, emulator)
    return app
