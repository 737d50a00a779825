"""``webcrm-fortnox tenants …``: the tenant registry from the command line.

Each command opens the configuration's state store, acts, prints what it did and returns the exit
status (0 done, 1 refused with a message). Secrets are never printed: ``list`` and ``show`` print
settings only, with each secret's key and "(encrypted)".
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from webcrm_fortnox.config.loading import load_config
from webcrm_fortnox.config.models import Config, TenantConfig
from webcrm_fortnox.config.tenant_tables import (
    SECRET_KEYS,
    TenantTableError,
    split_secrets,
    validate_tenant,
)
from webcrm_fortnox.config.writing import tenant_to_toml
from webcrm_fortnox.service.registry import (
    RegisteredTenant,
    Registry,
    RegistryError,
    check_not_in_file,
)
from webcrm_fortnox.service.tenants import open_state
from webcrm_fortnox.service.vault import KeySource
from webcrm_fortnox.store.registry import TenantState

ENCRYPTED = "(encrypted)"


@dataclass(frozen=True)
class RegistryCommand:
    """What every ``tenants`` command works with.

    Attributes:
        config: the loaded configuration (its state store and its own tenants).
        config_file: where it was read from.
        keys: where the key of the secrets is.
        console: where to print.
    """

    config: Config
    config_file: Path
    keys: KeySource | None
    console: Console


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as a nested table; VALUE is a TOML value, or else text.

    Example: ``["fortnox.tenant_id=7", "customer_types=['Customer']", "delivery_target=invoice"]``.

    Raises:
        TenantTableError: an assignment has no ``=`` or no key.
    """
    from webcrm_fortnox.config.checks import Problem

    table: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TenantTableError([Problem(assignment, "must be KEY=VALUE, e.g. tenant_id=7")])
        try:
            value = tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is meant as text: delivery_target=invoice
        *parents, last = key.split(".")
        target = table
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    return table


async def add(command: RegistryCommand, table: Mapping[str, Any]) -> int:
    """Register one tenant from its ``[[tenant]]`` table."""
    name = str(table.get("name", ""))
    try:
        tenant = validate_tenant(table)
    except TenantTableError as error:
        for problem in error.problems:
            command.console.print(Text(f"tenants add {name}: {problem}"))
        return 1
    return await _register(command, [tenant], update=False)


async def import_file(command: RegistryCommand, file: Path) -> int:
    """Register (or update) every ``[[tenant]]`` of ``file``, all or none.

    Raises:
        ConfigError: the file is not a valid configuration.
    """
    tenants = load_config(file).tenant
    if not tenants:
        command.console.print(Text(f"{file}: has no [[tenant]] table to import"))
        return 1
    return await _register(command, tenants, update=True)


async def _register(
    command: RegistryCommand, tenants: Sequence[TenantConfig], *, update: bool
) -> int:
    check_not_in_file([t.name for t in tenants], command.config, command.config_file)
    async with open_state(command.config.state.url) as db:
        outcomes = await Registry(db, command.keys).register(tenants, update=update)
    for name, outcome in outcomes.items():
        command.console.print(Text(f"{name}: {outcome.value}"))
    return 0


async def set_state(
    command: RegistryCommand, name: str, state: TenantState, reason: str | None
) -> int:
    """Pause, resume or remove a registered tenant."""
    _not_a_file_tenant(command, name)
    async with open_state(command.config.state.url) as db:
        await Registry(db, command.keys).set_state(name, state, reason)
    command.console.print(Text(f"{name}: {state.value}"))
    return 0


async def purge(command: RegistryCommand, name: str) -> int:
    """Forget a removed tenant and its whole history."""
    _not_a_file_tenant(command, name)
    async with open_state(command.config.state.url) as db:
        await Registry(db, command.keys).purge(name)
    command.console.print(Text(f"{name}: purged, with its links, cursors and history"))
    return 0


def _not_a_file_tenant(command: RegistryCommand, name: str) -> None:
    if _in_file(command.config, name) is not None:
        raise RegistryError(
            f"{command.config_file}: {name} is a [[tenant]] of this file, not a registered "
            "tenant: change the file to stop it"
        )


def _summary(
    tenant: TenantConfig | None, source: str, entry: RegisteredTenant | None
) -> dict[str, Any]:
    row = None if entry is None else entry.row
    summary: dict[str, Any] = {
        "name": tenant.name if tenant is not None else (row.name if row else ""),
        "source": source,
        "state": TenantState.ACTIVE.value if row is None else row.state.value,
        "reason": None if row is None else row.reason,
        "problem": None if entry is None else entry.problem,
    }
    if tenant is not None:
        summary["webcrm"] = {"base_url": tenant.webcrm.base_url}
        summary["fortnox"] = {
            "auth": tenant.fortnox.auth,
            "client_id": tenant.fortnox.client_id,
            "tenant_id": tenant.fortnox.tenant_id,
        }
    if row is not None:
        summary["version"] = row.version
        summary["created_at"] = row.created_at.isoformat()
        summary["updated_at"] = row.updated_at.isoformat()
    return summary


async def _everyone(command: RegistryCommand, *, removed: bool) -> list[dict[str, Any]]:
    async with open_state(command.config.state.url, read_only=True) as db:
        registered = await Registry(db, command.keys).tenants(removed=removed)
    in_file = [_summary(t, str(command.config_file), None) for t in command.config.tenant]
    return in_file + [_summary(r.config, "registry", r) for r in registered]


async def list_tenants(command: RegistryCommand, *, as_json: bool, removed: bool) -> int:
    """Every tenant, from the file and the registry: name, source, state, accounts."""
    tenants = await _everyone(command, removed=removed)
    if as_json:
        command.console.print_json(json.dumps(tenants))
        return 0
    table = Table("tenant", "source", "state", "Fortnox client / company", "webCRM")
    for tenant in tenants:
        fortnox = tenant.get("fortnox")
        company = (
            "" if fortnox is None else f"{fortnox['client_id']} / {fortnox['tenant_id'] or '-'}"
        )
        state = tenant["state"] + (f" ({tenant['reason']})" if tenant["reason"] else "")
        webcrm = tenant["webcrm"]["base_url"] if "webcrm" in tenant else tenant["problem"]
        table.add_row(tenant["name"], tenant["source"], state, company, webcrm)
    command.console.print(table)
    return 0


async def show(command: RegistryCommand, name: str) -> int:
    """One tenant's whole table as TOML, its secrets left out."""
    async with open_state(command.config.state.url, read_only=True) as db:
        registered = await Registry(db, command.keys).tenants(removed=True)
    found = next((r for r in registered if r.name == name), None)
    tenant = found.config if found is not None else _in_file(command.config, name)
    if tenant is None:
        raise RegistryError(
            f"no tenant named {name!r}" if found is None else f"registered {found.problem}"
        )
    settings, _ = split_secrets(tenant)
    for section, key in SECRET_KEYS:
        settings[section][key] = ENCRYPTED
    source = str(command.config_file) if found is None else "registry"
    state = "active" if found is None else found.row.state.value
    command.console.print(Text(f"# {name}: {state}, from {source}"))
    command.console.print(Text(tenant_to_toml(settings)))
    return 0


def _in_file(config: Config, name: str) -> TenantConfig | None:
    try:
        return config.tenant_named(name)
    except KeyError:
        return None
