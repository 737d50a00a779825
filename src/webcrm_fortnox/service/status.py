"""``status``: per tenant, how the sync stands, read from the state store.

Works whether or not ``run`` is running (it reads what the service wrote): last and next cycle,
records in sync / excluded / failing per entity, open conflicts, connection health and the last
measured propagation lag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.domain.customer_spec import ENTITY as CUSTOMER
from webcrm_fortnox.service.vault import TokenKeyError, TokenVault
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore


async def tenant_status(
    db: StateDatabase, tenant: TenantConfig, vault: TokenVault | None
) -> dict[str, Any]:
    """One tenant's status as JSON-ready data."""
    store = ServiceStore(db)
    values = await store.values(tenant.name)
    counts = await store.entity_counts(tenant.name)
    conflicts = await store.open_conflicts(tenant.name)
    excluded = {entity: len(ids) for entity, ids in (values.get("excluded") or {}).items()}
    entities: dict[str, dict[str, int]] = {}
    for entity in sorted({CUSTOMER, *counts, *excluded, *conflicts}):
        count = counts.get(entity)
        entities[entity] = {
            "in_sync": count.linked if count else 0,
            "excluded": excluded.get(entity, 0),
            "failing": sum(count.failing.values()) if count else 0,
            "open_conflicts": conflicts.get(entity, 0),
        }
    runs = await db.tenant(tenant.name).runs(limit=1)
    health = values.get("health") or {}
    state = health.get("state")
    if state is None:
        state = "never run" if not runs else "not running"
    fortnox = "service account"
    if tenant.fortnox.auth == "authorization-code":
        fortnox = await _fortnox_connection(tenant, vault)
        if fortnox == "not connected":
            state = "not connected"
    last = values.get("last_cycle")
    if last is None and runs:
        run = runs[0]
        last = {
            "at": (run.finished_at or run.started_at).isoformat(timespec="seconds"),
            "mode": run.mode,
            "status": run.status,
            "counts": dict(run.counts),
        }
    return {
        "tenant": tenant.name,
        "state": state,
        "reason": health.get("reason"),
        "last_cycle": last,
        "last_success_at": values.get("last_success_at"),
        "next_cycle_at": values.get("next_cycle_at"),
        "entities": entities,
        "open_conflicts": sum(conflicts.values()),
        "connections": {"fortnox": fortnox, "webcrm": "api token"},
        "lag": values.get("lag"),
    }


async def _fortnox_connection(tenant: TenantConfig, vault: TokenVault | None) -> str:
    if vault is None:
        return "not connected"
    try:
        grant = await vault.load(tenant.name)
    except TokenKeyError as error:
        return f"tokens unreadable: {error}"
    return "not connected" if grant is None else "authorization code (tokens stored encrypted)"


def print_status(console: Console, statuses: Sequence[dict[str, Any]]) -> None:
    """The statuses as a table per tenant."""
    for status in statuses:
        state = status["state"]
        style = "green" if state == "ok" else "bold red"
        head = Text(f"{status['tenant']}: ")
        head.append(state, style=style)
        if status["reason"]:
            head.append(f" ({status['reason']})")
        console.print(head)
        last = status["last_cycle"] or {}
        lines = [
            f"  last cycle: {last.get('at', 'never')} ({last.get('mode', '-')}, "
            f"{last.get('status', '-')})",
            f"  last success: {status['last_success_at'] or 'never'}",
            f"  next cycle: {status['next_cycle_at'] or 'when `webcrm-fortnox run` runs'}",
            f"  Fortnox: {status['connections']['fortnox']}",
        ]
        lag = status["lag"]
        if lag:
            lines.append(f"  lag: {lag['seconds']} s ({lag['direction']}, {lag['at']})")
        for line in lines:
            console.print(Text(line))
        table = Table(title_justify="left")
        for column in ("Entity", "In sync", "Excluded", "Failing", "Open conflicts"):
            table.add_column(column, justify="right" if column != "Entity" else "left")
        for entity, counts in status["entities"].items():
            table.add_row(
                entity,
                str(counts["in_sync"]),
                str(counts["excluded"]),
                str(counts["failing"]),
                str(counts["open_conflicts"]),
            )
        console.print(table)
