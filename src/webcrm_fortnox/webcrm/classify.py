"""Sorting webCRM's failed responses into the shared error tree.

=======  ====================  ==========================================================
status   error                 why
=======  ====================  ==========================================================
400      ValidationError       the content was refused; vendor Message/Type and the field
401      AuthExpired           token missing, expired or one of webCRM's spurious 401s
403      PermissionDenied      the token lacks the access right
404      NotFound              no such record
408      TransientError        the server gave up waiting
409/422  ValidationError       refused as it stands
429      RateLimited           over 250 requests a minute; ``Retry-After`` is honoured
5xx      TransientError        try again later
other    ApiError
=======  ====================  ==========================================================

webCRM documents only the 429 body (``{"RetryAfterSeconds", "Message", "Type"}``); other errors
are read as ``{"Message", "Type"}`` or as ASP.NET's ``{"<Field>": ["..."]}`` model-state shape,
whichever came. The raw text is always kept on the error.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from webcrm_fortnox.errors import (
    ApiError,
    AuthExpired,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
    ValidationError,
)

SYSTEM = "webcrm"
TOKEN_SETTINGS = "Configuration → Integration → API → REST"

_ENTITY_FIELD = re.compile(
    r"\b((?:Organisation|Person|Delivery|QuotationLine|Opportunity|Activity|Product|"
    r"LinkedDataItem|FieldMetadata)[A-Z][A-Za-z0-9]*|Page|Size|TargetUrl|Filter|EventType)\b"
)


def read_body(response: httpx.Response) -> Any:
    """The JSON body, or ``None`` when there is none or it is not JSON."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _model_state(body: Any) -> tuple[str, str] | None:
    """(field, message) from ASP.NET's validation body, if that is what came."""
    if not isinstance(body, dict):
        return None
    errors = body.get("errors", body)
    if not isinstance(errors, dict):
        return None
    for key, messages in errors.items():
        if isinstance(messages, list) and messages and isinstance(messages[0], str):
            name = key.rsplit(".", 1)[-1].strip("$[]") or key
            return name, messages[0]
    return None


def _retry_after(response: httpx.Response, body: Any) -> float | None:
    header = response.headers.get("retry-after", "").strip()
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    seconds = body.get("RetryAfterSeconds") if isinstance(body, dict) else None
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return max(float(seconds), 0.0)
    return None


def explain_refusal(message: str, field: str | None) -> str:
    """A plain-English reason for a 400, from webCRM's message and the field it names."""
    lower = message.lower()
    subject = field or "a field"
    if "length" in lower or "too long" in lower:
        return f"{subject} is longer than webCRM allows"
    if any(word in lower for word in ("required", "mandatory", "must not be empty", "empty")):
        return f"{subject} must be filled in for webCRM"
    if "script" in lower or "query" in lower:
        return f"webCRM could not run the query: {message}"
    if field and any(word in lower for word in ("invalid", "not valid", "unknown", "could not")):
        return f"webCRM does not accept the value of {field}"
    return f"webCRM refused the request: {message}" if message else "webCRM refused the request"


def classify(response: httpx.Response) -> ApiError:
    """The typed error for a failed webCRM response (see the module docstring)."""
    status = response.status_code
    body = read_body(response)
    message = body.get("Message") if isinstance(body, dict) else None
    vendor_type = body.get("Type") if isinstance(body, dict) else None
    field: str | None = None
    if not isinstance(message, str):
        state = _model_state(body)
        if state is not None:
            field, message = state
        else:
            message = body if isinstance(body, str) else None
    if field is None and message:
        match = _ENTITY_FIELD.search(message)
        field = match.group(1) if match else None
    common: dict[str, Any] = {
        "system": SYSTEM,
        "status": status,
        "code": vendor_type if isinstance(vendor_type, str) else None,
        "vendor_message": message,
        "body": response.text,
    }
    what = f"{response.request.method} {response.request.url.path}"
    if status == 401:
        return AuthExpired("webCRM refused the access token; logging in again", **common)
    if status == 403:
        return PermissionDenied(
            f"the webCRM API token may not do {what}; grant it access under {TOKEN_SETTINGS}",
            **common,
        )
    if status == 404:
        return NotFound(f"webCRM has no such record ({what})", **common)
    if status == 429:
        return RateLimited(
            "over webCRM's limit of requests per minute",
            retry_after=_retry_after(response, body),
            **common,
        )
    if status in (400, 409, 422):
        return ValidationError(explain_refusal(message or "", field), field=field, **common)
    if status == 408 or status >= 500:
        return TransientError(f"webCRM failed to answer {what} (HTTP {status})", **common)
    return ApiError(f"unexpected answer from webCRM to {what} (HTTP {status})", **common)
