"""What every ``/3/`` request goes through: the bearer token, licence and scope checks, the
request body's content type, JSON and envelope, and the Fortnox-style JSON answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from webcrm_fortnox.fortnox.emulator import errors
from webcrm_fortnox.fortnox.emulator.state import FortnoxEmulator, Tenant
from webcrm_fortnox.fortnox.emulator.tokens import Grant


class Unauthorized(Exception):
    """No valid bearer token: answered 401 ``{"message":"unauthorized"}``."""


@dataclass(frozen=True)
class Context:
    """The company a request acts on, who asks, and where the API is served."""

    tenant: Tenant
    grant: Grant
    base_url: str

    def url(self, *parts: str) -> str:
        """An ``@url`` value: absolute, like the real ``https://api.fortnox.se/3/…``."""
        from urllib.parse import quote

        return self.base_url + "/3/" + "/".join(quote(p, safe="") for p in parts)


def emulator_of(request: Request) -> FortnoxEmulator:
    emulator: FortnoxEmulator = request.app.state.fortnox
    return emulator


def requires(scope: str) -> Callable[[Request], Awaitable[Context]]:
    """A dependency admitting requests with a live token for a licensed company and ``scope``."""

    async def dependency(request: Request) -> Context:
        emulator = emulator_of(request)
        grant = emulator.grant_of(request.headers.get("authorization"))
        if grant is None:
            raise Unauthorized()
        tenant = emulator.tenant(grant.tenant_id)
        assert tenant is not None  # grant_of only admits known tenants
        if not tenant.api_licence:
            raise errors.FortnoxError(403, errors.NO_API_LICENCE)
        if scope not in grant.scopes or scope not in tenant.scopes:
            raise errors.FortnoxError(403, errors.NO_SCOPE)
        accept = request.headers.get("accept", "")
        if accept and not any(t in accept for t in ("json", "*/*")):
            raise errors.invalid(errors.INVALID_RESPONSE_TYPE)
        return Context(tenant, grant, str(request.base_url).rstrip("/"))

    return dependency


async def read_entity(request: Request, envelope: str) -> dict[str, Any]:
    """The object inside ``{envelope: {...}}`` of a JSON request body.

    Raises:
        FortnoxError: 1000031 wrong content type, 2002115 malformed JSON, 2001392 no envelope,
            2001399 a key beside the envelope.
    """
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower():
        raise errors.invalid(errors.INVALID_CONTENT_TYPE)
    raw = await request.body()
    try:
        document = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.invalid(errors.JSON_SYNTAX) from None
    if not isinstance(document, dict) or not isinstance(document.get(envelope), dict):
        raise errors.invalid(errors.NO_DATA)
    if len(document) != 1:
        raise errors.invalid(errors.UNKNOWN_FIELD)
    entity: dict[str, Any] = document[envelope]
    return entity


def answer(body: Any, status: int = 200, location: str | None = None) -> Response:
    """A Fortnox-style JSON answer; ``location`` is the bare word of a 201 (e.g. ``customers``)."""
    headers = {"Location": location} if location else None
    return errors.FortnoxJSONResponse(body, status_code=status, headers=headers)
