"""The response classifier: every failed webCRM answer becomes one typed error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from webcrm_fortnox.errors import (
    ApiError,
    AuthExpired,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReconnectNeeded,
    TransientError,
    ValidationError,
)
from webcrm_fortnox.webcrm.auth import classify_login
from webcrm_fortnox.webcrm.classify import classify


def response(
    status: int, body: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("PUT", "https://api.webcrm.com/Organisations/5")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_429_reads_retry_after_header() -> None:
    error = classify(
        response(
            429,
            {"RetryAfterSeconds": 14, "Message": "throttled", "Type": "TooManyRequestsException"},
            headers={"Retry-After": "9"},
        )
    )
    assert isinstance(error, RateLimited) and error.retry_after == 9.0
    assert error.code == "TooManyRequestsException"


def test_429_falls_back_to_retry_after_seconds_in_the_body() -> None:
    # recorded: the documented 429 body (reference §3.1)
    error = classify(response(429, {"RetryAfterSeconds": 14, "Message": "m", "Type": "T"}))
    assert isinstance(error, RateLimited) and error.retry_after == 14.0


def test_401_is_auth_expired_even_without_a_body() -> None:
    error = classify(response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}))
    assert type(error) is AuthExpired and error.status == 401


def test_403_404_and_5xx() -> None:
    assert isinstance(classify(response(403, {"Message": "no"})), PermissionDenied)
    not_found = classify(response(404, {"Message": "x was not found.", "Type": "NotFound"}))
    assert isinstance(not_found, NotFound) and "/Organisations/5" in not_found.explanation
    for status in (500, 502, 503, 504, 408):
        error = classify(response(status, {"Message": "boom", "Type": "Exception"}))
        assert type(error) is TransientError and error.retriable


def test_400_keeps_vendor_message_type_field_and_raw_text() -> None:
    message = (
        "The field OrganisationName must be a string or array type with a maximum length of '200'."
    )
    error = classify(response(400, {"Message": message, "Type": "BadRequestException"}))
    assert isinstance(error, ValidationError) and not error.retriable
    assert error.vendor_message == message
    assert error.code == "BadRequestException"
    assert error.field == "OrganisationName"
    assert error.explanation == "OrganisationName is longer than webCRM allows"
    assert message in (error.body or "")


def test_400_in_aspnet_model_state_shape() -> None:
    body = {"errors": {"person.PersonLastName": ["The PersonLastName field is required."]}}
    error = classify(response(400, body))
    assert isinstance(error, ValidationError)
    assert error.field == "PersonLastName"
    assert error.explanation == "PersonLastName must be filled in for webCRM"


def test_400_query_errors_are_explained() -> None:
    error = classify(
        response(400, {"Message": "The script could not be parsed near 'LIKE'.", "Type": "X"})
    )
    assert error.explanation.startswith("webCRM could not run the query")


def test_400_with_plain_text_body() -> None:
    error = classify(response(400, text="Bad things"))
    assert isinstance(error, ValidationError)
    assert error.body == "Bad things"
    assert error.explanation == "webCRM refused the request"


def test_other_statuses_are_plain_api_errors() -> None:
    error = classify(response(418, {"Message": "teapot"}))
    assert type(error) is ApiError and error.vendor_message == "teapot"


def test_login_with_a_wrong_token_needs_the_user() -> None:
    body = {"IsError": True, "Error": "invalid_grant", "ErrorDescription": "Unknown authCode"}
    error = classify_login(response(401, body))
    assert isinstance(error, ReconnectNeeded)
    assert "check the token" in error.explanation and "API → REST" in error.explanation
    assert error.vendor_message == "Unknown authCode"


def test_login_answered_200_with_is_error_is_a_wrong_token_too() -> None:
    assert isinstance(classify_login(response(200, {"IsError": True})), ReconnectNeeded)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"Message": "Forbidden"}),
        (401, {"IsError": True, "ErrorDescription": "The system has no API access"}),
    ],
)
def test_login_without_api_access_names_the_plan(status: int, body: dict[str, Any]) -> None:
    error = classify_login(response(status, body))
    assert isinstance(error, PermissionDenied)
    assert "PLUS or ENTERPRISE" in error.explanation


def test_login_server_errors_stay_transient() -> None:
    assert type(classify_login(response(503, {"Message": "down"}))) is TransientError
