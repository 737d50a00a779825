"""The response classifier: every Fortnox outcome becomes one typed error."""

from __future__ import annotations

import httpx
import pytest

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
from webcrm_fortnox.fortnox.classify import (
    EXPLANATIONS,
    FortnoxClassifier,
    classify_token_response,
    field_of,
)

classify = FortnoxClassifier()

# Codes of the reference's §6.2 table, which must all be explained.
REFERENCE_CODES = [
    1000003, 1000030, 1000031, 2000106, 2000108, 2000134, 2000204, 2000310, 2000311, 2000359,
    2000428, 2000429, 2000432, 2000433, 2000434, 2000439, 2000587, 2000588, 2000637, 2000663,
    2000729, 2000755, 2001101, 2001103, 2001161, 2001302, 2001304, 2001339, 2001392, 2001399,
    2001740, 2002115, 2002980, 2003055, 2003095, 2003115, 2003124, 2003125, 2003126, 2003127,
    2003241, 2003275, 2003277, 2003399, 2003157, 2003498, 2003977, 2004021, 2004167, 2001265,
    2002462, 2004052,
]  # fmt: skip


def response(status: int, body: object = None, *, text: str | None = None, **headers: str):
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def test_404_pascal_case_is_not_found_with_code_message_and_explanation() -> None:
    body = {"ErrorInformation": {"Error": 1, "Message": "Kan inte hitta kunden.", "Code": 2000433}}
    error = classify(response(404, body))
    assert type(error) is NotFound
    assert error.code == 2000433
    assert error.vendor_message == "Kan inte hitta kunden."
    assert error.explanation == "The customer does not exist in Fortnox."
    assert error.system == "fortnox" and error.status == 404


def test_400_lowercase_is_validation_error() -> None:
    body = {"ErrorInformation": {"error": 1, "message": "Ett ogiltigt filter har använts.",
                                 "code": 2000587}}  # fmt: skip
    error = classify(response(400, body))
    assert type(error) is ValidationError
    assert (error.code, error.vendor_message) == (2000587, "Ett ogiltigt filter har använts.")
    assert "filter" in error.explanation


def test_code_as_string_is_read_as_number() -> None:
    body = {"ErrorInformation": {"error": "1", "message": "x", "code": "2001302"}}
    assert classify(response(400, body)).code == 2001302


def test_401_unauthorized_is_auth_expired() -> None:
    error = classify(response(401, {"message": "unauthorized"}))
    assert type(error) is AuthExpired
    assert error.vendor_message == "unauthorized"


def test_429_is_rate_limited_with_retry_after_when_given() -> None:
    assert classify(response(429, {"message": "Too Many Requests"})).retry_after is None
    limited = classify(response(429, text="slow down", **{"Retry-After": "3"}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 3.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient_and_retriable(status: int) -> None:
    error = classify(response(status, text="<html>down</html>", **{"Content-Type": "text/html"}))
    assert type(error) is TransientError and error.retriable
    assert not error.not_sent


def test_html_page_on_a_4xx_means_the_api_is_down() -> None:
    error = classify(response(404, text="<html>gateway</html>", **{"Content-Type": "text/html"}))
    assert type(error) is TransientError


@pytest.mark.parametrize(("status", "code"), [(403, 2000663), (400, 2001101), (400, 2001103)])
def test_scope_and_licence_codes_are_permission_denied(status: int, code: int) -> None:
    body = {"ErrorInformation": {"error": 1, "message": "Har inte behörighet", "code": code}}
    assert type(classify(response(status, body))) is PermissionDenied


def test_plain_403_is_permission_denied() -> None:
    assert type(classify(response(403, text="Forbidden request"))) is PermissionDenied


def test_configured_booked_invoice_code_is_booked_invoice_error() -> None:
    body = {"ErrorInformation": {"error": 1, "message": "Faktura 3 är bokförd", "code": 2999999}}
    assert type(FortnoxClassifier([2999999])(response(400, body))) is BookedInvoiceError
    assert type(classify(response(400, body))) is ValidationError


def test_unknown_code_falls_back_to_status_explanation() -> None:
    body = {"ErrorInformation": {"error": 1, "message": "Nytt fel", "code": 2999998}}
    error = classify(response(400, body))
    assert error.explanation == "Fortnox rejected the request's content."


def test_redirect_like_status_is_plain_api_error() -> None:
    assert type(classify(response(302, text=""))) is ApiError


def test_every_reference_code_has_an_english_explanation() -> None:
    missing = [code for code in REFERENCE_CODES if not EXPLANATIONS.get(code)]
    assert missing == []


def test_field_is_taken_from_a_trailing_parenthesis() -> None:
    message = 'Inköpskonto inte uppdaterat. Kontot "4000" existerar inte. (PurchaseAccount)'
    body = {"ErrorInformation": {"error": 1, "message": message, "code": 2001304}}
    assert classify(response(400, body)).field == "PurchaseAccount"


def test_value_in_parenthesis_is_not_taken_for_a_field() -> None:
    assert field_of(2000108, "Värdet måste vara numeriskt (Abc)") is None
    assert field_of(2001399, "Felaktigt fältnamn (Colour)") == "Colour"
    assert field_of(2001399, "Felaktigt fältnamn") is None


def test_error_dict_carries_everything_for_the_error_table() -> None:
    body = {"ErrorInformation": {"Error": 1, "Message": "Kan inte hitta ordern.", "Code": 2000439}}
    assert classify(response(404, body)).to_dict() == {
        "type": "NotFound",
        "system": "fortnox",
        "status": 404,
        "code": 2000439,
        "vendor_message": "Kan inte hitta ordern.",
        "explanation": "The order does not exist in Fortnox.",
        "field": None,
    }


def test_token_invalid_grant_labelled_html_is_reconnect_needed() -> None:
    # As recorded: the body is JSON although the content type says text/html.
    resp = httpx.Response(
        400,
        content=b'{"error":"invalid_grant","error_description":"Invalid refresh token"}',
        headers={"Content-Type": "text/html; charset=UTF-8"},
    )
    error = classify_token_response(resp)
    assert type(error) is ReconnectNeeded
    assert error.code == "invalid_grant"
    assert error.vendor_message == "invalid_grant: Invalid refresh token"


def test_token_invalid_client_is_reconnect_needed() -> None:
    body = {"error": "invalid_client", "error_description": "The client credentials are invalid"}
    assert type(classify_token_response(response(401, body))) is ReconnectNeeded


def test_token_endpoint_5xx_and_429_are_transient() -> None:
    assert type(classify_token_response(response(503, text="down"))) is TransientError
    assert type(classify_token_response(response(429, text="slow"))) is RateLimited


def test_token_endpoint_other_400_is_validation_error() -> None:
    body = {"error": "unsupported_grant_type"}
    assert type(classify_token_response(response(400, body))) is ValidationError
