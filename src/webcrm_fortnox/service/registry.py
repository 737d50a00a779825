"""Registered tenants as configurations, merged with the configuration file's.

The registry (:mod:`webcrm_fortnox.store.registry`) stores a tenant's ``[[tenant]]`` table with
its secrets encrypted by :class:`~webcrm_fortnox.service.vault.SecretBox`. Here a stored row
becomes a :class:`TenantConfig` again, validated as a file's table is, and the tenants every
command acts on are the file's plus the registry's active ones; a name that is both is an error,
because both would share one history in the state store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from webcrm_fortnox.config.models import Config, TenantConfig
from webcrm_fortnox.config.tenant_tables import (
    TenantTableError,
    join_secrets,
    split_secrets,
    validate_tenant,
)
from webcrm_fortnox.service.tenants import (
    NoStateStoreError,
    UnknownTenantError,
    open_state,
    select_tenants,
)
from webcrm_fortnox.service.vault import KeySource, SecretBox, TokenKeyError
from webcrm_fortnox.store.registry import (
    NewTenant,
    RegistryOutcome,
    TenantExistsError,
    TenantRegistry,
    TenantRow,
    TenantState,
)
from webcrm_fortnox.store.state import StateDatabase


class RegistryError(Exception):
    """The registered tenants cannot be used as asked; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class RegisteredTenant:
    """A registry row and the configuration it stands for.

    Attributes:
        row: the row as stored.
        config: the tenant's configuration; ``None`` when it cannot be loaded in this process.
        problem: why not (an ``env:`` variable not set, the wrong key), with the key at fault.
    """

    row: TenantRow
    config: TenantConfig | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.row.name


class Registry:
    """Registering, loading and changing tenants in the state store.

    Args:
        db: the state database.
        keys: where the key of the secrets is (that of the Fortnox tokens).
        environ: where ``env:NAME`` secrets are resolved (default: the process environment).
    """

    def __init__(
        self,
        db: StateDatabase,
        keys: KeySource | None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.store = TenantRegistry(db)
        self.keys = keys
        self.environ = os.environ if environ is None else environ

    def _box(self) -> SecretBox:
        if self.keys is None:
            raise RegistryError("registered tenants need the token key, and none is configured")
        return SecretBox(self.keys)

    def load(self, row: TenantRow) -> RegisteredTenant:
        """The configuration ``row`` stands for (or why it cannot be loaded here)."""
        try:
            secrets = self._box().open(row.name, row.secrets)
            table = join_secrets(row.settings, secrets)
            return RegisteredTenant(row, validate_tenant(table, environ=self.environ))
        except TenantTableError as error:
            return RegisteredTenant(row, None, f"tenant {row.name}: {error}")
        except (TokenKeyError, RegistryError) as error:
            return RegisteredTenant(row, None, str(error))

    async def tenants(self, *, removed: bool = False) -> list[RegisteredTenant]:
        """Every registered tenant (with ``removed``, removed ones too), by name."""
        return [self.load(row) for row in await self.store.rows(removed=removed)]

    async def register(
        self, tenants: Sequence[TenantConfig], *, update: bool
    ) -> dict[str, RegistryOutcome]:
        """Store ``tenants`` (all or none), their secrets encrypted.

        Args:
            tenants: validated tenants.
            update: replace tenants already registered; otherwise their names are an error.

        Raises:
            RegistryError: without ``update``, a name is taken.
        """
        box = self._box()
        outcomes: dict[str, RegistryOutcome] = {}
        changed: list[NewTenant] = []
        for tenant in tenants:
            settings, secrets = split_secrets(tenant)
            old = await self.store.row(tenant.name) if update else None
            if (
                old is not None
                and old.settings == settings
                and box.open(old.name, old.secrets) == secrets
            ):
                outcomes[tenant.name] = RegistryOutcome.UNCHANGED
                continue
            changed.append(NewTenant(tenant.name, settings, box.seal(secrets)))
        try:
            outcomes.update(await self.store.register(changed, update=update))
        except TenantExistsError as error:
            names = ", ".join(error.names)
            raise RegistryError(
                f"already registered: {names} (`webcrm-fortnox tenants import FILE` updates "
                "registered tenants; a removed one comes back with `tenants resume`)"
            ) from None
        return {tenant.name: outcomes[tenant.name] for tenant in tenants}

    async def set_state(self, name: str, state: TenantState, reason: str | None = None) -> None:
        """Pause, resume or remove ``name``.

        Raises:
            RegistryError: no tenant of that name is registered.
        """
        if not await self.store.set_state(name, state, reason):
            raise RegistryError(f"no registered tenant named {name!r} (see `tenants list`)")

    async def purge(self, name: str) -> None:
        """Forget ``name`` and its whole history.

        Raises:
            RegistryError: ``name`` is not a removed registered tenant.
        """
        row = await self.store.row(name)
        if row is None or row.state is not TenantState.REMOVED:
            raise RegistryError(
                f"only a removed tenant can be purged: `webcrm-fortnox tenants remove {name}` first"
            )
        await self.store.purge(name)


def check_not_in_file(names: Sequence[str], config: Config, config_file: Path) -> None:
    """Refuse to register a name the configuration file already has.

    Raises:
        RegistryError: one of ``names`` is a ``[[tenant]]`` of the file.
    """
    in_file = {tenant.name for tenant in config.tenant}
    clash = sorted(set(names) & in_file)
    if clash:
        raise RegistryError(
            f"{config_file}: {', '.join(clash)}: already a [[tenant]] of this file; a tenant is "
            "either in the file or registered, not both"
        )


def merge_tenants(
    config: Config, config_file: Path, registered: Sequence[RegisteredTenant]
) -> list[TenantConfig]:
    """The file's tenants, then the registry's active ones that can be loaded here.

    Raises:
        RegistryError: a name is both in the file and registered (not removed).
    """
    in_file = {tenant.name: index for index, tenant in enumerate(config.tenant)}
    merged = list(config.tenant)
    for tenant in registered:
        if tenant.name in in_file:
            raise RegistryError(
                f"{config_file}: tenant[{in_file[tenant.name]}].name: {tenant.name!r} is also a "
                f"registered tenant; keep one: delete the table or `webcrm-fortnox tenants "
                f"remove {tenant.name}`"
            )
        if tenant.row.state is TenantState.ACTIVE and tenant.config is not None:
            merged.append(tenant.config)
    return merged


@dataclass(frozen=True)
class CommandTenants:
    """The tenants a command acts on, and the registered ones it leaves out.

    Attributes:
        tenants: the file's and the registry's active tenants (or the one named).
        skipped: why each active registered tenant that cannot be loaded here is left out
            (one bad row must not stop a command for thousands of others).
    """

    tenants: list[TenantConfig]
    skipped: list[str]


async def command_tenants(
    config: Config, config_file: Path, keys: KeySource | None, name: str | None
) -> CommandTenants:
    """The tenants a command acts on: the file's and the registry's, or the one named.

    Raises:
        UnknownTenantError: no active tenant has that name.
        RegistryError: see :func:`merge_tenants`; or the tenant named cannot be loaded here.
        StateStoreError: the state store cannot be opened.
    """
    try:
        # Only looked at: a store that does not exist yet registers no tenant, and stays
        # absent for the command to judge (a report on it is an error, a sync creates it).
        async with open_state(config.state.url, existing=True) as db:
            registered = await Registry(db, keys).tenants()
    except NoStateStoreError:
        registered = []
    merged = config.model_copy(update={"tenant": merge_tenants(config, config_file, registered)})
    unloadable = {
        t.name: f"registered {t.problem}"
        for t in registered
        if t.row.state is TenantState.ACTIVE and t.config is None
    }
    if name is None:
        return CommandTenants(merged.tenant, list(unloadable.values()))
    if name in unloadable:
        raise RegistryError(unloadable[name])
    active = {tenant.name for tenant in merged.tenant}
    if name not in active and any(t.name == name for t in registered):
        raise UnknownTenantError(
            f"tenant {name!r} is paused: `webcrm-fortnox tenants resume {name}` first"
        )
    return CommandTenants(select_tenants(merged, name), [])
