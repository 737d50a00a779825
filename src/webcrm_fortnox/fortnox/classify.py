"""Sorting Fortnox's answers into the typed errors of :mod:`webcrm_fortnox.errors`.

Fortnox speaks several error dialects, all recorded:

- 404: ``{"ErrorInformation":{"Error":1,"Message":"Kan inte hitta kunden.","Code":2000433}}``
  (PascalCase keys);
- 400: ``{"ErrorInformation":{"error":1,"message":"Ett ogiltigt filter har använts.",
  "code":2000587}}`` (lowercase keys);
- 401 on the API: ``{"message":"unauthorized"}``;
- the token endpoint: ``{"error":"invalid_grant","error_description":"Invalid refresh token"}``,
  sometimes labelled ``text/html`` although the body is JSON;
- an API that is down: 5xx with an HTML page.

:class:`FortnoxClassifier` reads all of them case-insensitively and attaches the vendor code, the
Swedish message, a plain-English explanation (:data:`EXPLANATIONS`) and, where the message names
it, the offending field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from webcrm_fortnox.errors import (
    ApiError,
    AuthExpired,
    BookedInvoiceError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReconnectNeeded,
    TransientError,
    ValidationError,
)

SYSTEM = "fortnox"

#: Plain-English explanations of Fortnox's error codes (reference §6.2), for people reading a
#: per-record error. The Swedish vendor message is kept beside it on the error.
EXPLANATIONS: Mapping[int, str] = {
    1000003: "Fortnox had an internal error; try again later.",
    1000030: "The request asked for a response format Fortnox does not offer (Accept header).",
    1000031: "The request body was sent with a content type Fortnox does not accept.",
    2000106: "A value must contain only letters and digits.",
    2000108: "A value must be a number.",
    2000134: "A value must be true or false.",
    2000204: "The customer number on the document does not exist in Fortnox.",
    2000310: "The login was refused (legacy access token).",
    2000311: "The login is missing its access token or client secret (legacy access token).",
    2000359: "A value contains characters Fortnox does not allow.",
    2000428: "The article does not exist in Fortnox.",
    2000429: "The terms of payment do not exist in Fortnox.",
    2000432: "The unit does not exist in Fortnox.",
    2000433: "The customer does not exist in Fortnox.",
    2000434: "The invoice does not exist in Fortnox.",
    2000439: "The order does not exist in Fortnox.",
    2000587: "The list filter is not one Fortnox accepts for this resource.",
    2000588: "A query parameter is not accepted for this resource.",
    2000637: "The customer number is taken: it is in use or belonged to a deleted customer, "
    "and Fortnox never reuses numbers.",
    2000663: "The connection lacks the permission (scope) for this part of Fortnox; "
    "reconnect with the needed scopes.",
    2000729: "A valid identifier was not provided.",
    2000755: "The supplier invoice does not balance.",
    2001101: "The company has no active Fortnox licence for this module.",
    2001103: "The company has no Fortnox API licence (integration licence).",
    2001161: "The project does not exist in Fortnox.",
    2001265: "A predefined account is missing or invalid in the company's settings.",
    2001302: "An article number on a document row does not exist in Fortnox.",
    2001304: "An account does not exist or is inactive; usually the company's preferred accounts "
    "are not set up in Fortnox.",
    2001339: "The Fortnox user behind the connection may not see invoices.",
    2001392: (
        "Fortnox refused a value as missing, too long or of the wrong type (or the request "
        "body was empty)."
    ),
    2001399: "The request named a field Fortnox does not know.",
    2001740: "The XML document could not be read.",
    2002115: "The request body was not valid JSON.",
    2002462: "A predefined account is missing or invalid in the company's settings.",
    2002980: "A row marked as housework cannot have the housework type 'other costs'.",
    2003055: "The invoice is already fully paid.",
    2003095: "The reverse-VAT account or VAT code is wrong.",
    2003115: "The reverse-VAT account or VAT code is wrong.",
    2003124: "Only orders that have been delivered can be marked as completed.",
    2003125: "A document marked as completed cannot be changed.",
    2003126: "The warehouse module refused the change.",
    2003127: "The warehouse module refused the change.",
    2003157: "Tax reduction for the chosen housework type has been discontinued.",
    2003241: "The warehouse module refused the change.",
    2003275: "The warehouse module refused the change.",
    2003277: "The warehouse module refused the change.",
    2003399: "The warehouse module refused the change.",
    2003498: "The invoice must be finalised before it can be booked.",
    2003977: "A document row with a quantity needs a description or an article.",
    2004021: "A document with RUT tax reduction cannot contain ROT housework rows "
    "(or the other way round).",
    2004052: "A predefined account is missing or invalid in the company's settings.",
    2004167: "An account is needed on rows with a custom VAT rate when EasyVat is enabled.",
}

#: Plain-English explanations of Fortnox messages whose code is not on record, by the start of
#: the Swedish message (compared case-insensitively); they win over the code's generic one.
MESSAGE_EXPLANATIONS: Mapping[str, str] = {
    # reference §8.5 ("Kunde inte hämta/hitta moms"): a row's VAT rate the company lacks
    "kunde inte hämta/hitta moms": (
        "A row's VAT rate is not one the company has in Fortnox (25, 12, 6 and 0 % by default)."
    ),
}

#: Codes meaning the connection or company lacks a right, whatever the HTTP status.
PERMISSION_CODES = frozenset({2000663, 2001101, 2001103, 2001339})

# Codes whose parenthesis holds the offending *value*, not a field name (reference §6.2).
_VALUE_IN_PARENS = frozenset({2000106, 2000108, 2000134, 2000359})
_FIELD_IN_PARENS = re.compile(r"\(([A-Z][A-Za-z0-9]*)\)[\s.]*$")

_GENERIC: Mapping[int, str] = {
    400: "Fortnox rejected the request's content.",
    401: "Fortnox refused the access token (missing, unknown or expired).",
    403: "Fortnox refused access to this resource.",
    404: "The record does not exist in Fortnox.",
    429: "Too many requests to Fortnox; its limit is 25 per 5 seconds per company.",
}


def parse_body(response: httpx.Response) -> Any:
    """The response body as JSON, or ``None`` when it is not JSON, whatever its content type."""
    # recorded: authentication/invalid_refresh_token.yml is JSON labelled text/html.
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _lower_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in data.items()}


def error_information(body: Any) -> tuple[int | None, str | None]:
    """The vendor code and message of an error body, read case-insensitively.

    Tries ``ErrorInformation`` first, then a top-level ``message``, then OAuth's
    ``error``/``error_description``.
    """
    if not isinstance(body, Mapping):
        return None, None
    top = _lower_keys(body)
    info = top.get("errorinformation")
    if isinstance(info, Mapping):
        fields = _lower_keys(info)
        return _as_code(fields.get("code")), _as_text(fields.get("message"))
    if "message" in top:
        return None, _as_text(top["message"])
    if "error" in top:
        description = _as_text(top.get("error_description"))
        return None, f"{top['error']}: {description}" if description else _as_text(top["error"])
    return None, None


def _as_code(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


def field_of(code: int | None, message: str | None) -> str | None:
    """The field a Fortnox message names in a trailing parenthesis, e.g. ``(PurchaseAccount)``."""
    if not message or code in _VALUE_IN_PARENS:
        return None
    match = _FIELD_IN_PARENS.search(message)
    return match.group(1) if match else None


def explain(code: int | None, status: int | None, message: str | None = None) -> str:
    """A plain-English explanation for a known vendor message, else for the vendor code, else
    for the HTTP status."""
    if message:
        lowered = message.strip().casefold()
        for start, explanation in MESSAGE_EXPLANATIONS.items():
            if lowered.startswith(start):
                return explanation
    if code is not None and code in EXPLANATIONS:
        return EXPLANATIONS[code]
    if status is not None and status >= 500:
        return f"Fortnox is unavailable (HTTP {status}); try again later."
    if status is not None and status in _GENERIC:
        return _GENERIC[status]
    return f"Fortnox answered HTTP {status}."


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header, if Fortnox sent one (not observed so far)."""
    value = response.headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class FortnoxClassifier:
    """Maps a failed REST response to one typed error.

    Args:
        booked_invoice_codes: vendor codes meaning "this invoice is booked and cannot change".
            The real code is not publicly documented (reference §5.5, §10), so it is
            configurable; the client also recognises the condition by re-reading the invoice.
    """

    def __init__(self, booked_invoice_codes: Collection[int] = ()) -> None:
        self.booked_invoice_codes = frozenset(booked_invoice_codes)

    def __call__(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        body = parse_body(response)
        code, message = error_information(body)
        kw: dict[str, Any] = {
            "system": SYSTEM,
            "status": status,
            "code": code,
            "vendor_message": message,
            "field": field_of(code, message),
            "body": response.text[:2000],
        }
        explanation = explain(code, status, message)
        if status == 429:
            return RateLimited(explanation, retry_after=retry_after(response), **kw)
        if status >= 500 or (body is None and _is_html(response)):
            # A down API answers with an HTML page (recorded in the Ruby client's handling).
            return TransientError(explain(code, max(status, 500)), **kw)
        if code in PERMISSION_CODES or status == 403:
            return PermissionDenied(explanation, **kw)
        if status == 401:
            return AuthExpired(explanation, **kw)
        if status == 404:
            return NotFound(explanation, **kw)
        if code is not None and code in self.booked_invoice_codes:
            return BookedInvoiceError(
                "The invoice is booked; accounting rules forbid changing it.", **kw
            )
        if 400 <= status < 500:
            return ValidationError(explanation, **kw)
        return ApiError(explanation, **kw)


def classify_token_response(response: httpx.Response) -> ApiError:
    """Maps a failed answer of ``/oauth-v1/token`` or ``/oauth-v1/revoke`` to a typed error.

    ``invalid_grant`` (refresh token used or expired, code expired) and ``invalid_client`` (wrong
    client id or secret, consent revoked) cannot be fixed by trying again: a person must reconnect.
    """
    status = response.status_code
    body = parse_body(response)
    error = _lower_keys(body).get("error") if isinstance(body, Mapping) else None
    _, message = error_information(body)
    kw: dict[str, Any] = {
        "system": SYSTEM,
        "status": status,
        "code": error if isinstance(error, str) else None,
        "vendor_message": message,
        "body": response.text[:2000],
    }
    if status == 429:
        return RateLimited(_GENERIC[429], retry_after=retry_after(response), **kw)
    if status >= 500:
        return TransientError(explain(None, status), **kw)
    # recorded: authentication/invalid_authorization.yml (401 invalid_client) and
    # authentication/invalid_refresh_token.yml (400 invalid_grant).
    if error == "invalid_grant":
        return ReconnectNeeded(
            "Fortnox refused the refresh token or authorization code (already used, expired or "
            "revoked); the company must connect again.",
            **kw,
        )
    if error in ("invalid_client", "unauthorized_client", "access_denied") or status == 401:
        return ReconnectNeeded(
            "Fortnox refused the client credentials or the company's consent; the company must "
            "connect again.",
            **kw,
        )
    return ValidationError(f"Fortnox refused the token request (HTTP {status}).", **kw)


def _is_html(response: httpx.Response) -> bool:
    return "text/html" in response.headers.get("content-type", "")
