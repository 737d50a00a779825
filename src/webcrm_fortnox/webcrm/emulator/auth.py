"""``/Auth/ApiLogin`` and ``/Auth/ApiRefresh``: application token → access token (a JWT).

The specification declares ``authCode`` as form data; real clients send it urlencoded, as
multipart, in a header, or in the query string, with any capitalisation, so all are read. An
access token lasts an hour (reference §2.1) unless configured otherwise; refresh tokens are not
rotated and last 30 days (their lifetime is undocumented).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from webcrm_fortnox.emulation import EmulatorClock, Storage, Table
from webcrm_fortnox.webcrm.emulator.dto import Record

if TYPE_CHECKING:
    from webcrm_fortnox.webcrm.emulator.state import WebcrmEmulator

REGISTRY = "_webcrm"  # the storage namespace of what belongs to no single system
REFRESH_TTL = 30 * 24 * 3600.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenStore:
    """The access and refresh tokens of every system, stored so a restart keeps sessions."""

    def __init__(self, storage: Storage, clock: EmulatorClock, ttl: int) -> None:
        self._storage = storage
        self._clock = clock
        self.ttl = ttl

    @property
    def _access(self) -> Table:
        # looked up on each use: a reset of the storage replaces its tables
        return self._storage.table(REGISTRY, "access_tokens")

    @property
    def _refresh(self) -> Table:
        return self._storage.table(REGISTRY, "refresh_tokens")

    def issue(self, api_token: str, refresh_token: str | None = None) -> Record:
        """A new access token for the system of ``api_token``, as a ``TokenResponseDto``."""
        now = self._clock.timestamp()
        self._purge(now)
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": "https://api.webcrm.com",
            "exp": int(now + self.ttl),
            "jti": secrets.token_hex(8),
        }
        access = f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(secrets.token_bytes(32))}"
        self._access.put(access, {"api_token": api_token, "expires": now + self.ttl})
        if refresh_token is None:
            refresh_token = secrets.token_urlsafe(32)
            self._refresh.put(refresh_token, {"api_token": api_token, "expires": now + REFRESH_TTL})
        return {
            "AccessToken": access,
            "RefreshToken": refresh_token,
            "Error": None,
            "ErrorDescription": None,
            "IsError": False,
            "ExpiresIn": self.ttl,
            "TokenType": "Bearer",
        }

    def holder(self, access_token: str) -> str | None:
        """The application token behind a live access token, or ``None``."""
        return self._live(self._access.get(access_token))

    def refreshed(self, refresh_token: str) -> Record | None:
        """A new access token for a live refresh token, or ``None``."""
        api_token = self._live(self._refresh.get(refresh_token))
        return None if api_token is None else self.issue(api_token, refresh_token)

    def expire_all(self) -> None:
        """End every access token now (refresh tokens keep working)."""
        table = self._access
        now = self._clock.timestamp()
        for key in list(table):
            row = table.get(key)
            if row is not None:
                table.put(key, {**row, "expires": now})

    def _live(self, row: Record | None) -> str | None:
        if row is None or row["expires"] <= self._clock.timestamp():
            return None
        return str(row["api_token"])

    def _purge(self, now: float) -> None:
        table = self._access
        for key in [k for k in table if (table.get(k) or {}).get("expires", 0) <= now - 3600]:
            table.delete(key)


def token_error(status: int, error: str, description: str) -> JSONResponse:
    """A refused login: the ``TokenResponseDto`` with ``IsError`` set (reference §2.1)."""
    return JSONResponse(
        {
            "AccessToken": None,
            "RefreshToken": None,
            "Error": error,
            "ErrorDescription": description,
            "IsError": True,
            "ExpiresIn": 0,
            "TokenType": None,
        },
        status_code=status,
    )


async def credential(request: Request, name: str) -> str | None:
    """``name`` from the query, a header, or a urlencoded, multipart or JSON body; any case."""
    wanted = name.lower()
    sources: list[Mapping[str, str]] = [
        {k.lower(): v for k, v in request.query_params.multi_items()},
        {k.lower(): v for k, v in request.headers.items()},
        await _form_fields(request),
    ]
    for fields in sources:
        value = fields.get(wanted)
        if value and value.strip():
            return value.strip()
    return None


async def _form_fields(request: Request) -> dict[str, str]:
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if not body:
        return {}
    if content_type.startswith("multipart/form-data"):
        # the stdlib's MIME parser reads multipart/form-data without an extra dependency
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                fields[name.lower()] = (
                    payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
                )
        return fields
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return (
            {str(k).lower(): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        )
    return {k.lower(): v for k, v in parse_qsl(body.decode("utf-8", "replace"))}


def router() -> APIRouter:
    routes = APIRouter(tags=["Auth"])

    @routes.post("/Auth/ApiLogin")
    async def api_login(request: Request) -> Response:
        emulator: WebcrmEmulator = request.app.state.webcrm
        auth_code = await credential(request, "authCode")
        if auth_code is None:
            return token_error(400, "invalid_request", "The authCode is missing.")
        system = emulator.systems.get(auth_code)
        if system is None:
            return token_error(401, "invalid_grant", "The authCode is not a valid API token.")
        request.scope["emulator.tenant"] = system.tenant
        if not system.settings.api_access:
            return token_error(
                403,
                "unauthorized_client",
                "The system's subscription does not include API access (Plus or Enterprise).",
            )
        return JSONResponse(emulator.tokens.issue(auth_code))

    @routes.post("/Auth/ApiRefresh")
    async def api_refresh(request: Request) -> Response:
        emulator: WebcrmEmulator = request.app.state.webcrm
        refresh_token = await credential(request, "refreshToken")
        if refresh_token is None:
            return token_error(400, "invalid_request", "The refreshToken is missing.")
        answer = emulator.tokens.refreshed(refresh_token)
        if answer is None:
            return token_error(401, "invalid_grant", "The refreshToken is not valid.")
        return JSONResponse(answer)

    return routes
