"""The service's small HTTP server: ``/metrics``, ``/healthz`` and webCRM's hook calls.

``/healthz`` answers 200 while every tenant's last sync completed and 503 when one fails or is
paused (a load balancer or supervisor sees it), always with the details as JSON. A hook call
``POST /hooks/webcrm/<tenant>/<secret>`` wakes the tenant; the secret, made when the hook was
registered, keeps strangers from waking tenants.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from webcrm_fortnox.service.metrics import ServiceMetrics


class Served(Protocol):
    """A process this server serves (``run``'s service, a ``worker``, the ``feed``)."""

    @property
    def metrics(self) -> ServiceMetrics: ...

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` answers; its ``status`` is ``ok`` when all is well."""
        ...

    def hook_called(self, tenant: str, secret: str) -> bool:
        """A webCRM hook arrived for ``tenant``; true when it is genuine."""
        ...


def health_app(service: Served) -> FastAPI:
    """The ASGI app serving ``service``'s metrics, health and hooks."""
    app = FastAPI(title="webcrm-fortnox", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> Response:
        health = service.health()
        return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)

    @app.post("/hooks/webcrm/{tenant}/{secret}")
    async def hook(tenant: str, secret: str) -> Response:
        return Response(status_code=204 if service.hook_called(tenant, secret) else 404)

    return app
