"""Who may use the administrator's page, and what keeps them safe.

- **Operators** come from ``[admin]``: users with Argon2 password hashes (made by
  ``webcrm-fortnox admin hash-password``) and a role, or one token from the environment; the
  demo adds a one-time password of its own. Nothing else signs in.
- **Sessions** are Starlette's signed cookies (itsdangerous): the cookie holds who signed in,
  their role and the session's CSRF token, never a password or a token.
- **CSRF**: every state-changing request carries the session's token, as a form field or in
  the ``X-CSRF-Token`` header (htmx sends it); one without it changes nothing.
- **Login attempts** are limited per client address and per name: past
  :data:`LOGIN_ATTEMPTS` failures in :data:`LOGIN_WINDOW` seconds, the next are refused
  without looking at the password, so guessing costs a window per few tries.
- **Security headers** on every answer (see :data:`SECURITY_HEADERS`).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from webcrm_fortnox.config.models import AdminRole, AdminSettings

#: Failed sign-ins allowed per client address, and per name, within :data:`LOGIN_WINDOW`.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW = 300.0

#: Sent with every answer: no framing, no sniffing, no referrer, scripts and styles only from
#: the page's own address (htmx is served by the page), nothing cached.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` for ``[[admin.user]] password_hash``.

    Raises:
        ValueError: the password is empty.
    """
    if not password:
        raise ValueError("the password must not be empty")
    return _hasher.hash(password)


@dataclass(frozen=True)
class Operator:
    """Someone signed in: their name and what they may do."""

    name: str
    role: AdminRole

    @property
    def may_act(self) -> bool:
        """Whether they may change anything (a read-only operator only reads)."""
        return self.role == "operator"


class Operators:
    """Checks passwords and the token against ``[admin]`` (and the demo's one-time password).

    Args:
        settings: the configuration's ``[admin]``.
        one_time: a name and password that sign in as an operator besides those configured
            (``demo`` prints them); kept only in this process's memory.
    """

    def __init__(self, settings: AdminSettings, one_time: tuple[str, str] | None = None) -> None:
        self._users = {user.name: user for user in settings.user}
        self._token = None if settings.token is None else settings.token.get_secret_value()
        self._token_role: AdminRole = settings.token_role
        self._one_time = one_time
        # Checked against when the name is unknown, so that an unknown name costs as much as
        # a wrong password and the time of an answer does not tell which names exist.
        self._decoy = _hasher.hash(secrets.token_urlsafe(16))

    @property
    def configured(self) -> bool:
        """Whether anyone at all can sign in."""
        return bool(self._users or self._token or self._one_time)

    def password(self, name: str, password: str) -> Operator | None:
        """The operator whose name and password these are, else ``None``."""
        if self._one_time is not None and hmac.compare_digest(
            f"{name}\0{password}".encode(), "\0".join(self._one_time).encode()
        ):
            return Operator(name, "operator")
        user = self._users.get(name)
        try:
            _hasher.verify(self._decoy if user is None else user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return None if user is None else Operator(user.name, user.role)

    def token(self, token: str) -> Operator | None:
        """The operator the configured token signs in as, if ``token`` is it."""
        if self._token is None or not hmac.compare_digest(token.encode(), self._token.encode()):
            return None
        return Operator("token", self._token_role)


class LoginLimiter:
    """Failed sign-ins per key (a client address, a name) in a sliding window.

    Args:
        attempts: failures allowed per key within ``window`` seconds.
        window: seconds a failure counts.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        attempts: int = LOGIN_ATTEMPTS,
        window: float = LOGIN_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]  # a quiet key keeps no memory
            return deque()
        return failures

    def wait(self, *keys: str) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        waits = [0.0]
        for key in keys:
            failures = self._recent(key)
            if len(failures) >= self.attempts:
                waits.append(failures[-self.attempts] + self.window - self.clock())
        return max(waits)

    def failed(self, *keys: str) -> None:
        """Count one failed sign-in against each of ``keys``."""
        now = self.clock()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of ``keys``: whoever signed in knew the password."""
        for key in keys:
            self._failures.pop(key, None)


def new_csrf_token() -> str:
    """A fresh CSRF token for a new session."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: object, given: str | None) -> bool:
    """Whether ``given`` (from the form or header) is the session's token ``expected``."""
    if not isinstance(expected, str) or not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
