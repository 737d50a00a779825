"""OAuth grants of the emulated Fortnox: authorization codes, access tokens, refresh tokens.

Everything lives in the kit's storage (namespace ``_auth``), so ``--data`` keeps a connected
client connected across a restart. Times come from the emulated clock, so tests expire tokens by
moving the clock. Tokens are opaque random strings (the real access tokens are JWTs, whose claims
no client should read).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from webcrm_fortnox.emulation import EmulatorClock, Storage

NAMESPACE = "_auth"
CODE_TTL = 600.0  # reference §1.2: authorization codes live 10 minutes, single use
REFRESH_TTL = 45 * 86400.0  # reference §1.2: 45 days (sources disagree; settable)


@dataclass(frozen=True)
class Grant:
    """What an access token stands for."""

    client_id: str
    tenant_id: int
    scopes: tuple[str, ...]

    @property
    def rate_key(self) -> str:
        # reference §3: the limit counts per client id and tenant, not per token
        return f"{self.client_id}:{self.tenant_id}"


class Tokens:
    """Issues, checks, rotates and revokes tokens.

    Args:
        storage: where grants are kept.
        clock: the emulated clock.
        access_ttl: lifetime of access tokens in seconds (``expires_in``).
        refresh_ttl: lifetime of refresh tokens in seconds.
    """

    def __init__(
        self,
        storage: Storage,
        clock: EmulatorClock,
        access_ttl: int = 3600,
        refresh_ttl: float = REFRESH_TTL,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    @property
    def _access(self) -> Any:
        return self._storage.table(NAMESPACE, "access")

    @property
    def _refresh(self) -> Any:
        return self._storage.table(NAMESPACE, "refresh")

    @property
    def _codes(self) -> Any:
        return self._storage.table(NAMESPACE, "codes")

    def new_code(
        self, client_id: str, tenant_id: int, scopes: tuple[str, ...], redirect_uri: str | None
    ) -> str:
        """A single-use authorization code for the auto-approved consent."""
        code = secrets.token_urlsafe(24)
        self._codes.put(
            code,
            {
                "client_id": client_id,
                "tenant_id": tenant_id,
                "scopes": list(scopes),
                "redirect_uri": redirect_uri,
                "expires": self._clock.timestamp() + CODE_TTL,
            },
        )
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str | None) -> Grant | None:
        """The grant of an unused, unexpired code issued to this client, consuming it."""
        row = self._codes.get(code)
        if row is None:
            return None
        self._codes.delete(code)
        if row["client_id"] != client_id or row["expires"] <= self._clock.timestamp():
            return None
        if row["redirect_uri"] is not None and row["redirect_uri"] != redirect_uri:
            return None
        return Grant(client_id, int(row["tenant_id"]), tuple(row["scopes"]))

    def issue(self, grant: Grant, *, refresh: bool) -> dict[str, Any]:
        """A new access token (and refresh token) as the token endpoint answers it."""
        now = self._clock.timestamp()
        access = secrets.token_urlsafe(32)
        row = {
            "client_id": grant.client_id,
            "tenant_id": grant.tenant_id,
            "scopes": list(grant.scopes),
            "expires": now + self.access_ttl,
        }
        self._access.put(access, row)
        # recorded: authentication/valid_request.yml (key order, lowercase "bearer")
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.access_ttl,
            "token_type": "bearer",
            "scope": " ".join(grant.scopes),
        }
        if refresh:
            token = secrets.token_urlsafe(32)
            self._refresh.put(token, {**row, "expires": now + self.refresh_ttl})
            body["refresh_token"] = token
        return body

    def rotate(self, refresh_token: str, client_id: str) -> dict[str, Any] | None:
        """Trade a refresh token for new tokens; the old one is dead from now on."""
        row = self._refresh.get(refresh_token)
        if row is None or row["client_id"] != client_id:
            return None
        self._refresh.delete(refresh_token)
        if row["expires"] <= self._clock.timestamp():
            return None
        grant = Grant(client_id, int(row["tenant_id"]), tuple(row["scopes"]))
        return self.issue(grant, refresh=True)

    def revoke(self, token: str, client_id: str) -> bool:
        """Revoke a refresh token of this client."""
        row = self._refresh.get(token)
        if row is None or row["client_id"] != client_id:
            return False
        self._refresh.delete(token)
        return True

    def lookup(self, access_token: str) -> Grant | None:
        """The grant of a live access token, or None if unknown or expired."""
        row = self._access.get(access_token)
        if row is None or row["expires"] <= self._clock.timestamp():
            return None
        return Grant(row["client_id"], int(row["tenant_id"]), tuple(row["scopes"]))

    def expire_all(self) -> None:
        """Expire every access token now (refresh tokens stay usable, as after an hour)."""
        table = self._access
        for key in list(table):
            row = table.get(key)
            if row is not None:
                table.put(key, {**row, "expires": 0.0})
