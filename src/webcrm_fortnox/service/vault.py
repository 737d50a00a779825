"""Fortnox tokens from ``connect`` and registered tenants' secrets, encrypted at rest with Fernet.

The key comes from the environment (:data:`KEY_ENV`, a Fernet key) or from a key file, created
with permissions 0600 the first time tokens are stored. Once tokens are stored, a missing key is
a clear error (never a silent reconnect), because the refresh token cannot be read without it.

Every rotation of the refresh token is written in one transaction, before the new access token
is used: a refresh token is single-use, so losing the new one would force the company to connect
again. A rotation runs under the lock of the tenant's token row
(:func:`~webcrm_fortnox.store.token_lock.locked_token`), so two processes refreshing one tenant
take turns and the second uses what the first stored instead of spending a spent token.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from webcrm_fortnox.fortnox.auth import RotationSlot, TokenSet
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.store.token_lock import LockedToken, locked_token

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

    def decrypt(self, ciphertext: str, what: str, remedy: str) -> bytes:
        """``ciphertext`` opened with this key.

        Args:
            ciphertext: what was stored.
            what: what it is, for the message (``the stored Fortnox tokens of tenant acme``).
            remedy: what to do when the key does not open it.

        Raises:
            TokenKeyError: the key is missing or is not the one it was encrypted with.
        """
        try:
            return self.fernet(create=False).decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            raise TokenKeyError(
                f"the token key in {self.where} does not open {what}: restore the right key, or "
                f"{remedy}"
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
        await self.store.save_secret(tenant, FORTNOX, self.encrypt_grant(grant))

    async def load(self, tenant: str) -> FortnoxGrant | None:
        """The stored grant of ``tenant``, or ``None`` when it never connected.

        Raises:
            TokenKeyError: tokens are stored but the key is missing or is not the one they were
                encrypted with.
        """
        stored = await self.store.secret(tenant, FORTNOX)
        return None if stored is None else self.decrypt_grant(tenant, stored.ciphertext)

    @asynccontextmanager
    async def rotation(self, tenant: str) -> AsyncIterator[RotationSlot]:
        """Hold the lock of ``tenant``'s token row while a refresh token is rotated.

        The slot carries the newest stored token, read under the lock; what it saves is
        committed before the lock is released.
        """
        async with locked_token(self.store.db, tenant, FORTNOX) as row:
            yield _VaultSlot(self, tenant, row)

    def decrypt_grant(self, tenant: str, ciphertext: str) -> FortnoxGrant:
        """The grant stored as ``ciphertext`` for ``tenant``.

        Raises:
            TokenKeyError: the key is missing or is not the one it was encrypted with.
        """
        remedy = f"run `webcrm-fortnox connect fortnox --tenant {tenant}` again"
        return _decode(
            self.keys.decrypt(ciphertext, f"the stored Fortnox tokens of tenant {tenant}", remedy)
        )

    def encrypt_grant(self, grant: FortnoxGrant) -> str:
        """``grant`` as ciphertext (the key file is created on first use)."""
        return self.keys.fernet(create=True).encrypt(_encode(grant)).decode("ascii")

    async def version(self, tenant: str) -> str | None:
        """A value that changes whenever the tenant's tokens are replaced (to notice a
        ``connect`` made by another process)."""
        stored = await self.store.secret(tenant, FORTNOX)
        return None if stored is None else stored.ciphertext[-32:]


class _VaultSlot:
    """A :class:`~webcrm_fortnox.fortnox.auth.RotationSlot` over a locked token row."""

    def __init__(self, vault: TokenVault, tenant: str, row: LockedToken) -> None:
        self._vault = vault
        self._tenant = tenant
        self._row = row
        self._grant = (
            None if row.ciphertext is None else vault.decrypt_grant(tenant, row.ciphertext)
        )

    @property
    def token(self) -> TokenSet | None:
        return None if self._grant is None else self._grant.token

    async def save(self, token: TokenSet) -> None:
        tenant_id = None if self._grant is None else self._grant.tenant_id
        await self._row.save(self._vault.encrypt_grant(FortnoxGrant(token, tenant_id)))


class SecretBox:
    """Encrypts registered tenants' secrets with the key of the Fortnox tokens.

    Args:
        keys: where the key is (created on first use, as for tokens).
    """

    def __init__(self, keys: KeySource) -> None:
        self.keys = keys

    def seal(self, secrets: Mapping[str, str]) -> str:
        """The ciphertext of ``secrets`` (by key, e.g. ``fortnox.client_secret``)."""
        raw = json.dumps(dict(secrets), sort_keys=True).encode()
        return self.keys.fernet(create=True).encrypt(raw).decode("ascii")

    def open(self, tenant: str, ciphertext: str) -> dict[str, str]:
        """The secrets :meth:`seal` encrypted for ``tenant``.

        Raises:
            TokenKeyError: the key is missing or is not the one they were encrypted with.
        """
        remedy = "register the tenant again (`webcrm-fortnox tenants import FILE`)"
        raw = self.keys.decrypt(ciphertext, f"the stored secrets of tenant {tenant}", remedy)
        secrets = json.loads(raw)
        return {str(key): str(value) for key, value in secrets.items()}
