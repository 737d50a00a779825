"""``status``: per tenant, how the sync stands, read from the state store.

Works whether or not ``run`` is running: the last cycles by id (whoever ran them: ``run``,
``sync --once``, ``retry``) with their trigger and counts per entity, the last success, the next
cycle, records in sync / excluded / failing per entity, open conflicts, connection health and
the last measured propagation lag. Every sync records its cycle and the tenant's health after
it, so each figure has one source and nothing is put together here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.domain.customer_spec import ENTITY as CUSTOMER
from webcrm_fortnox.service.runner import COMPLETED
from webcrm_fortnox.service.vault import TokenKeyError, TokenVault
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.registry import TenantRow, TenantState
from webcrm_fortnox.store.service import ServiceStore
from webcrm_fortnox.store.state import HEALTH, CycleRecord

#: How many of a tenant's newest cycles ``status --json`` lists.
CYCLES_SHOWN = 5


def cycle_json(cycle: CycleRecord) -> dict[str, Any]:
    """One cycle as ``status --json`` shows it (``at``: when it ended, or ``None``)."""
    seconds = None
    if cycle.finished_at is not None:
        seconds = round((cycle.finished_at - cycle.started_at).total_seconds(), 3)
    return {
        "id": cycle.id,
        "trigger": cycle.trigger,
        "mode": cycle.mode,
        "status": cycle.status,
        "started_at": _iso(cycle.started_at),
        "at": None if cycle.finished_at is None else _iso(cycle.finished_at),
        "seconds": seconds,
        "counts": {entity: dict(counts) for entity, counts in cycle.counts.items()},
        "message": cycle.message,
    }


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


async def tenant_status(
    db: StateDatabase,
    tenant: TenantConfig,
    vault: TokenVault | None,
    *,
    registered: TenantRow | None = None,
) -> dict[str, Any]:
    """One tenant's status as JSON-ready data.

    ``last_cycle`` is the newest cycle that ended, ``cycles`` the newest few (a running one
    included, ``at`` ``None``), ``last_success_at`` the end of the newest that completed
    (records may have failed: the sync itself did not stop). ``state`` is the health the last
    sync (or the service pausing the tenant) left: ``ok``, ``failing``, ``reconnect needed``,
    ``not connected``; ``never run`` before any. An authorization-code tenant without tokens is
    ``not connected`` whatever ran.

    A paused tenant has ``paused``: by whom, why, and what resumes it. Either the schedule holds
    it until new credentials (``state`` is then ``reconnect needed`` or ``not connected``, as its
    last sync left it), or a person paused or removed its ``registered`` row (``state`` is then
    ``paused`` or ``removed``, whatever its last sync left).
    """
    store = ServiceStore(db)
    state_store = db.tenant(tenant.name)
    values = await store.values(tenant.name)
    counts = await store.entity_counts(tenant.name)
    conflicts = await store.open_conflicts(tenant.name)
    entities: dict[str, dict[str, int]] = {}
    for entity in sorted({CUSTOMER, *counts, *conflicts}):
        count = counts.get(entity)
        entities[entity] = {
            "in_sync": count.linked if count else 0,
            "excluded": count.excluded if count else 0,
            "failing": sum(count.failing.values()) if count else 0,
            "open_conflicts": conflicts.get(entity, 0),
        }
    recent = await state_store.cycles(CYCLES_SHOWN)
    ended = next(iter(await state_store.cycles(1, ended=True)), None)
    success = next(iter(await state_store.cycles(1, status=COMPLETED)), None)
    last_success = None if success is None else success.finished_at
    schedule = await store.schedule(tenant.name)
    next_cycle = None if schedule is None else schedule.next_cycle_at
    health = values.get(HEALTH) or {}
    state, reason = health.get("state") or "never run", health.get("reason")
    fortnox = "service account"
    if tenant.fortnox.auth == "authorization-code":
        fortnox = await _fortnox_connection(tenant, vault)
        if fortnox == "not connected":
            state = "not connected"
    paused = None
    if schedule is not None and schedule.paused is not None:
        paused = {
            "by": schedule.paused_by,
            "reason": schedule.paused_reason,
            "until": "new credentials (`webcrm-fortnox connect`, or the settings fixed)",
        }
    if registered is not None and registered.state is not TenantState.ACTIVE:
        verb = "pause" if registered.state is TenantState.PAUSED else "remove"
        state = registered.state.value
        reason = f"{state} by a person: {registered.reason or 'no reason given'}"
        paused = {
            "by": f"a person (`webcrm-fortnox tenants {verb}`)",
            "reason": registered.reason,
            "until": f"`webcrm-fortnox tenants resume {tenant.name}`",
        }
    return {
        "tenant": tenant.name,
        "state": state,
        "reason": reason,
        "paused": paused,
        "last_cycle": None if ended is None else cycle_json(ended),
        "last_success_at": None if last_success is None else _iso(last_success),
        "next_cycle_at": None if next_cycle is None else _iso(next_cycle),
        "cycles": [cycle_json(cycle) for cycle in recent],
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
        paused = status["paused"]
        if paused is not None:
            console.print(Text(f"  paused by {paused['by']} until {paused['until']}"))
        last = status["last_cycle"]
        shown = "never"
        if last is not None:
            shown = (
                f"#{last['id']} {last['at']} ({last['mode']}, {last['trigger']}, {last['status']})"
            )
        lines = [
            f"  last cycle: {shown}",
            f"  last success: {status['last_success_at'] or 'never'}",
            f"  next cycle: {status['next_cycle_at'] or 'when `webcrm-fortnox run` runs'}",
            f"  Fortnox: {status['connections']['fortnox']}",
            f"  webCRM: {status['connections']['webcrm']}",
        ]
        lag = status["lag"]
        if lag:
            lines.append(f"  lag: {lag['seconds']} s ({lag['direction']}, {lag['at']})")
        if last is not None and last["counts"]:
            lines.append(f"  last cycle's records: {_counts_line(last['counts'])}")
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


def _counts_line(counts: dict[str, dict[str, int]]) -> str:
    """``customer: 3 synced, 1 excluded; article: nothing to do``."""
    parts = []
    for entity, by_status in counts.items():
        shown = ", ".join(f"{n} {status}" for status, n in by_status.items() if n)
        parts.append(f"{entity}: {shown or 'nothing to do'}")
    return "; ".join(parts)
