"""What both API clients share: rate limiting, retries, the HTTP core and the error tree."""

from webcrm_fortnox.transport.errors import (
    ApiError,
    AuthError,
    AuthExpired,
    BookedInvoiceError,
    NoAnswer,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReconnectNeeded,
    TransientError,
    ValidationError,
)
from webcrm_fortnox.transport.http import (
    ApiTransport,
    AuthProvider,
    CallStats,
    masked_url,
    no_answer,
)
from webcrm_fortnox.transport.ratelimit import RateLimiter, SlidingWindow
from webcrm_fortnox.transport.retry import RetryPolicy

__all__ = [
    "ApiError",
    "ApiTransport",
    "AuthError",
    "AuthExpired",
    "AuthProvider",
    "BookedInvoiceError",
    "CallStats",
    "NoAnswer",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RateLimiter",
    "ReconnectNeeded",
    "RetryPolicy",
    "SlidingWindow",
    "TransientError",
    "ValidationError",
    "masked_url",
    "no_answer",
]
