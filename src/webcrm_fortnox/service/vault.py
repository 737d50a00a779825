"""Fortnox tokens from ``connect``, encrypted at rest with Fernet.

The key comes from the environment (:data:`KEY_ENV`, a Fernet key) or from a key file, created
with permissions 0600 the first time tokens are stored. Once tokens are stored, a missing key is
a clear error (never a silent reconnect), because the refresh token cannot be read without it.

Every rotation of the refresh token is written in one transaction (see
:class:`~webcrm_fortnox.store.service.ServiceStore`), before the new access token is used: a
refresh token is single-use, so losing the new one would force the company to connect again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from webcrm_fortnox.fortnox.auth import TokenSet
from webcrm_fortnox.store.service import ServiceStore

#: A Fernet key (``Fernet.generate_key()``) to use instead of a key file.
KEY_ENV = "WEBCRM_FORTNOX_TOKEN_KEY"
#: The key file to use instead of the one beside the configuration.
KEY_FILE_ENV = "WEBCRM_FORTNOX_KEY_FILE"
#: The key file's name when it sits beside the configuration file.
KEY_FILE_NAME = "webcrm-fortnox.key"

FORTNOX = "fortnox"


class TokenKeyError(Exception):
    """The token key is missing or wrong; ``str()`` says what to do."""


class KeySource:
    """Where the token key comes from: a value (the environment) or a file.

    Args:
        key: a Fernet key given directly (from :data:`KEY_ENV`).
        path: the key file, created on first use when ``key`` is not given.
    """

    def __init__(self, *, key: str | None = None, path: Path | None = None) -> None:
        if key is None and path is None:
            raise ValueError("a key source needs a key or a key file")
        self._key = key
        self.path = path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], config_file: Path) -> KeySource:
        """The key from :data:`KEY_ENV`, else the file :data:`KEY_FILE_ENV` names, else the
        file :data:`KEY_FILE_NAME` beside ``config_file``."""
        if environ.get(KEY_ENV):
            return cls(key=environ[KEY_ENV])
        if environ.get(KEY_FILE_ENV):
            return cls(path=Path(environ[KEY_FILE_ENV]))
        return cls(path=config_file.resolve().parent / KEY_FILE_NAME)

    @property
    def where(self) -> str:
        """Where the key is, for messages (never the key itself)."""
        return f"${KEY_ENV}" if self._key is not None else str(self.path)

    def fernet(self, *, create: bool) -> Fernet:
        """The cipher; with ``create``, a missing key file is made (0600) with a new key.

        Raises:
            TokenKeyError: no key (and not ``create``), or the key is not a Fernet key.
        """
        key = self._key
        if key is None:
            assert self.path is not None
            key = self._read_or_create(self.path, create=create)
        try:
            return Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise TokenKeyError(
                f"the token key in {self.where} is not a Fernet key (32 url-safe base64 bytes)"
            ) from None

    @staticmethod
    def _read_or_create(path: Path, *, create: bool) -> str:
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            if not create:
                raise TokenKeyError(
                    f"the token key file {path} is missing: restore it or set ${KEY_ENV}, "
                    "or run `webcrm-fortnox connect fortnox` again"
                ) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key().decode("ascii")
        # O_EXCL: never overwrite a key another process just wrote; 0600 from the first byte.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key + "\n")
        return key


@dataclass(frozen=True)
class FortnoxGrant:
    """What ``connect fortnox`` obtained for one company.

    Attributes:
        token: the current access token, its expiry and the refresh token to use next.
        tenant_id: the company's TenantId (``DatabaseNumber``), when it could be read.
    """

    token: TokenSet
    tenant_id: int | None = None


def _encode(grant: FortnoxGrant) -> bytes:
    token = grant.token
    return json.dumps(
        {
            "access_token": token.access_token,
            "expires_at": token.expires_at,
            "refresh_token": token.refresh_token,
            "scope": token.scope,
            "tenant_id": grant.tenant_id,
        }
    ).encode()


def _decode(raw: bytes) -> FortnoxGrant:
    data = json.loads(raw)
    token = TokenSet(
        access_token=str(data["access_token"]),
        expires_at=float(data["expires_at"]),
        refresh_token=data.get("refresh_token"),
        scope=str(data.get("scope", "")),
    )
    tenant_id = data.get("tenant_id")
    return FortnoxGrant(token, None if tenant_id is None else int(tenant_id))


class TokenVault:
    """Reads and writes tenants' Fortnox grants, encrypted, in the state database.

    Args:
        store: the service tables.
        keys: where the key is.
    """

    def __init__(self, store: ServiceStore, keys: KeySource) -> None:
        self.store = store
        self.keys = keys

    async def save(self, tenant: str, grant: FortnoxGrant) -> None:
        """Store ``grant`` for ``tenant`` (creating the key file on first use)."""
        ciphertext = self.keys.fernet(create=True).encrypt(_encode(grant)).decode("ascii")
        await self.store.save_secret(tenant, FORTNOX, ciphertext)

    async def load(self, tenant: str) -> FortnoxGrant | None:
        """The stored grant of ``tenant``, or ``None`` when it never connected.

        Raises:
            TokenKeyError: tokens are stored but the key is missing or is not the one they were
                encrypted with.
        """
        stored = await self.store.secret(tenant, FORTNOX)
        if stored is None:
            return None
        try:
            raw = self.keys.fernet(create=False).decrypt(stored.ciphertext.encode("ascii"))
        except InvalidToken:
            raise TokenKeyError(
                f"the token key in {self.keys.where} does not open the stored Fortnox tokens of "
                f"tenant {tenant}: restore the right key, or run `webcrm-fortnox connect fortnox "
                f"--tenant {tenant}` again"
            ) from None
        return _decode(raw)

    async def version(self, tenant: str) -> str | None:
        """A value that changes whenever the tenant's tokens are replaced (to notice a
        ``connect`` made by another process)."""
        stored = await self.store.secret(tenant, FORTNOX)
        return None if stored is None else stored.ciphertext[-32:]
