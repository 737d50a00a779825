"""OAuth2 at ``/oauth-v1/``: authorize, token, revoke (reference §1).

``GET /oauth-v1/auth`` approves at once (no login page) and redirects to ``redirect_uri`` with
``code`` and ``state``. The company it connects is chosen with an emulator-only query parameter
``tenant_id`` (default: the emulator's default tenant), standing in for the user picking a company
while logging in.

``POST /oauth-v1/token`` takes HTTP Basic client credentials and the grants
``authorization_code``, ``refresh_token`` (single use: the old one dies, a new one comes back) and
``client_credentials`` (company from the ``TenantId`` header, no refresh token). Its errors copy the
recordings, content types included: bad client credentials → 401 ``invalid_client`` as
``text/plain``, a used or unknown refresh token → 400 ``invalid_grant`` as ``text/html``.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from webcrm_fortnox.fortnox.emulator.api import emulator_of
from webcrm_fortnox.fortnox.emulator.state import ALL_SCOPES, FortnoxEmulator

router = APIRouter(prefix="/oauth-v1", tags=["oauth"])


def _error(status: int, error: str, description: str, media_type: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description}, status, media_type=media_type
    )


def invalid_client() -> Response:
    # recorded: authentication/invalid_authorization.yml
    return _error(
        401, "invalid_client", "The client credentials are invalid", "text/plain;charset=UTF-8"
    )


def invalid_grant(description: str = "Invalid refresh token") -> Response:
    # recorded: authentication/invalid_refresh_token.yml
    return _error(400, "invalid_grant", description, "text/html; charset=UTF-8")


def invalid_request(description: str) -> Response:
    return _error(400, "invalid_request", description, "application/json")


def _client(emulator: FortnoxEmulator, request: Request) -> str | None:
    """The client id of valid HTTP Basic credentials, else None."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    expected = emulator.client_secret(client_id)
    return client_id if expected is not None and expected == secret else None


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@router.get("/auth")
async def authorize(
    request: Request,
    client_id: str = "",
    redirect_uri: str | None = None,
    scope: str = "",
    state: str = "",
    response_type: str = "code",
    tenant_id: int | None = None,
) -> Response:
    emulator = emulator_of(request)
    if emulator.client_secret(client_id) is None:
        return invalid_request("Auth code or ClientID supplied is invalid")
    if not redirect_uri:
        return invalid_request("redirect_uri is required by the emulator")

    def back(**params: str) -> Response:
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(redirect_uri + separator + urlencode(params), status_code=302)

    if response_type != "code":
        return back(error="unsupported_response_type", state=state)
    scopes = tuple(scope.split()) or ALL_SCOPES
    if any(s not in ALL_SCOPES for s in scopes):
        return back(error="invalid_scope", state=state)
    tenant = emulator.tenant(emulator.default_tenant_id if tenant_id is None else tenant_id)
    if tenant is None:
        return back(error="access_denied", state=state)
    code = emulator.tokens.new_code(client_id, tenant.id, scopes, redirect_uri)
    return back(code=code, state=state)


@router.post("/token")
async def token(request: Request) -> Response:
    emulator = emulator_of(request)
    client_id = _client(emulator, request)
    if client_id is None:
        return invalid_client()
    form = await _form(request)
    grant_type = form.get("grant_type", "")
    tokens = emulator.tokens
    if grant_type == "authorization_code":
        grant = tokens.redeem_code(form.get("code", ""), client_id, form.get("redirect_uri"))
        if grant is None:
            return invalid_grant("Invalid authorization code")
        return JSONResponse(tokens.issue(grant, refresh=True))
    if grant_type == "refresh_token":
        issued = tokens.rotate(form.get("refresh_token", ""), client_id)
        return invalid_grant() if issued is None else JSONResponse(issued)
    if grant_type == "client_credentials":
        raw = request.headers.get("tenantid", "")
        tenant = emulator.tenant(int(raw)) if raw.strip().isdigit() else None
        if tenant is None:
            return invalid_request("A valid TenantId header is required")
        from webcrm_fortnox.fortnox.emulator.tokens import Grant

        return JSONResponse(tokens.issue(Grant(client_id, tenant.id, tenant.scopes), refresh=False))
    return _error(400, "unsupported_grant_type", "Unsupported grant type", "application/json")


@router.post("/revoke")
async def revoke(request: Request) -> Response:
    emulator = emulator_of(request)
    client_id = _client(emulator, request)
    if client_id is None:
        return invalid_client()
    form = await _form(request)
    return JSONResponse({"revoked": emulator.tokens.revoke(form.get("token", ""), client_id)})
