"""Typed errors raised by both API clients.

They import nothing, and live outside :mod:`webcrm_fortnox.transport`, so that the engine and the
domain, which decide by them, run without the HTTP stack.

Every HTTP outcome that is not a success is sorted by one response classifier per client into
exactly one of these classes, so callers decide with ``except`` clauses instead of status codes::

    ApiError                       any failed call; carries system, status, vendor code and message
    ├── TransientError             worth retrying later: 5xx, timeouts, dropped connections
    │   ├── NoAnswer               no response at all; names the address and the reason
    │   └── RateLimited            429; ``retry_after`` seconds when the vendor said so
    ├── AuthError                  the credentials did not work
    │   ├── AuthExpired            access token expired or unknown: log in / refresh and retry once
    │   └── ReconnectNeeded        grant revoked, refresh token used or client invalid: a person
    │                              must reconnect; the tenant pauses
    ├── PermissionDenied           missing scope, licence or plan (Fortnox 2000663, 2001103)
    ├── NotFound                   the record does not exist (404)
    └── ValidationError            the vendor rejected the content (400, 422); never retried as is
        └── BookedInvoiceError     a change to a booked invoice, which accounting forbids
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API call.

    Attributes:
        system: ``"fortnox"`` or ``"webcrm"``.
        status: HTTP status, or ``None`` when no response arrived.
        code: the vendor's error code (Fortnox numbers such as ``2000433``), if any.
        vendor_message: the vendor's own message, verbatim (Swedish for Fortnox).
        explanation: a plain-English reason a person can act on.
        field: the field the vendor blamed, when it can be told.
        body: the raw response text, kept for diagnostics (never contains our secrets).
    """

    retriable = False

    def __init__(
        self,
        explanation: str,
        *,
        system: str = "",
        status: int | None = None,
        code: int | str | None = None,
        vendor_message: str | None = None,
        field: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(explanation)
        self.system = system
        self.status = status
        self.code = code
        self.vendor_message = vendor_message
        self.explanation = explanation
        self.field = field
        self.body = body

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, as stored in per-record error rows."""
        return {
            "type": type(self).__name__,
            "system": self.system,
            "status": self.status,
            "code": self.code,
            "vendor_message": self.vendor_message,
            "explanation": self.explanation,
            "field": self.field,
        }

    def __str__(self) -> str:
        parts = [self.explanation]
        if self.code is not None or self.vendor_message:
            parts.append(f"({self.system} {self.code or ''}: {self.vendor_message or ''})".strip())
        return " ".join(parts)


class TransientError(ApiError):
    """A failure that may go away by itself: server errors, timeouts, dropped connections.

    ``not_sent`` is true when the request provably never reached the vendor (the connection
    could not be opened), so even a create may be sent again.
    """

    retriable = True

    def __init__(self, explanation: str, *, not_sent: bool = False, **kw: Any) -> None:
        super().__init__(explanation, **kw)
        self.not_sent = not_sent


class NoAnswer(TransientError):
    """No response arrived: the connection could not be opened, timed out or was dropped.

    Attributes:
        address: where it was sent, as ``scheme://host[:port]`` with any password masked.
        reason: the network's own reason in a few words, e.g. ``connection refused``.
    """

    def __init__(self, *, address: str, reason: str, **kw: Any) -> None:
        super().__init__(f"no answer from {address}: {reason}", **kw)
        self.address = address
        self.reason = reason


class RateLimited(TransientError):
    """HTTP 429: the vendor's rate limit was hit."""

    def __init__(self, explanation: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(explanation, **kw)
        self.retry_after = retry_after


class AuthError(ApiError):
    """The credentials were refused."""


class AuthExpired(AuthError):
    """The access token is missing, unknown or expired; a fresh one should fix it."""


class ReconnectNeeded(AuthError):
    """The grant itself is gone (revoked, refresh token already used, client credentials wrong).

    Nothing the program can do alone fixes it: a person has to run ``connect`` again.
    """


class PermissionDenied(ApiError):
    """The account lacks a scope, a licence or a plan that the call needs."""


class NotFound(ApiError):
    """The record does not exist."""


class ValidationError(ApiError):
    """The vendor rejected the request's content; sending it again unchanged will fail again."""


class BookedInvoiceError(ValidationError):
    """A change to a booked invoice; Swedish accounting rules forbid it."""
