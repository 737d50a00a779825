"""webCRM's error responses.

Only the 429 body is documented (``{"RetryAfterSeconds", "Message", "Type":
"TooManyRequestsException"}``). The other errors reuse its ``{"Message", "Type"}`` shape with a
``Type`` named like the 429's; a rejected token gets ASP.NET's JWT answer: 401, no body, and a
``WWW-Authenticate: Bearer`` header saying why.
"""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

BAD_REQUEST = "BadRequestException"
NOT_FOUND = "NotFoundException"


class WebcrmError(Exception):
    """An error answer: raised anywhere in a request, turned into the vendor's response."""

    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind

    def response(self) -> Response:
        return error_response(self.status, self.message, self.kind)


class NotAuthenticated(WebcrmError):
    """A missing, unknown or expired access token."""

    def __init__(self, reason: str = "invalid_token") -> None:
        super().__init__(401, reason, "UnauthorizedException")

    def response(self) -> Response:
        return unauthorized(self.message)


def bad_request(message: str) -> WebcrmError:
    """A 400: the content was rejected and nothing was changed."""
    return WebcrmError(400, message, BAD_REQUEST)


def not_found(entity: str, record_id: object) -> WebcrmError:
    """A 404 for a record that does not exist (in this system)."""
    return WebcrmError(404, f"{entity} with id {record_id} was not found.", NOT_FOUND)


def error_response(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"Message": message, "Type": kind}, status_code=status)


def unauthorized(reason: str = "invalid_token") -> Response:
    """ASP.NET's JWT bearer refusal: no body, the reason in ``WWW-Authenticate``."""
    return Response(
        status_code=401, headers={"WWW-Authenticate": f'Bearer error="{reason}"'}, content=b""
    )


def rate_limited(retry_after: float) -> JSONResponse:
    """The documented 429 (reference §3.1), with whole seconds to wait."""
    seconds = max(1, math.ceil(retry_after))
    return JSONResponse(
        {
            "RetryAfterSeconds": seconds,
            "Message": "The request was throttled. The limit of 250 requests per minute is reached",
            "Type": "TooManyRequestsException",
        },
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


def server_error(status: int) -> JSONResponse:
    kinds = {502: "BadGatewayException", 503: "ServiceUnavailableException"}
    return error_response(
        status, "An error occurred while processing the request.", kinds.get(status, "Exception")
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of the app in webCRM's shapes, never FastAPI's own."""

    @app.exception_handler(WebcrmError)
    async def _webcrm(request: Request, exc: WebcrmError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in exc.errors()
        )
        return error_response(400, f"The request is invalid. {problems}", BAD_REQUEST)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = NOT_FOUND if exc.status_code == 404 else "HttpException"
        return error_response(exc.status_code, str(exc.detail), kind)
