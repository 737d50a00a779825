"""``status``: per tenant, how the sync stands, read from the state store.

Works whether or not ``run`` is running: last and next cycle, records in sync / excluded /
failing per entity, open conflicts, connection health and the last measured propagation lag.
It reads what the service wrote and the run log that every sync writes (``run``'s, ``sync
--once``'s, ``retry``'s), and of the two shows whichever is newer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.domain.customer_spec import ENTITY as CUSTOMER
from webcrm_fortnox.engine.ports import RunRecord
from webcrm_fortnox.engine.sync import RunStatus
from webcrm_fortnox.service.vault import TokenKeyError, TokenVault
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore

#: How many of a tenant's newest runs are read for its last cycle and its last success (a cycle
#: is one run per entity).
RUN_WINDOW = 60

#: The state of a tenant whose last cycle stopped (as the service says it).
FAILING = "failing"


@dataclass(frozen=True)
class Cycle:
    """One finished sync of a tenant, put together from its runs in the run log.

    Attributes:
        at: when its last run finished.
        mode: its mode (``incremental``, ``full``, ``retry``).
        completed: whether every entity's run completed (some records may have failed).
        counts: per entity, records by outcome.
        message: why it stopped, when it did.
    """

    at: datetime
    mode: str
    completed: bool
    counts: dict[str, dict[str, int]]
    message: str | None

    def as_json(self) -> dict[str, Any]:
        """The cycle as ``last_cycle`` shows it (the words the service uses for its own)."""
        return {
            "at": _iso(self.at),
            "mode": self.mode,
            "status": "completed" if self.completed else "stopped",
            "counts": self.counts,
            "message": self.message,
        }


def cycles(runs: Sequence[RunRecord]) -> list[Cycle]:
    """The finished cycles among ``runs`` (newest first), newest first.

    A tenant's sync runs customers first, then articles, then documents, one run each: read
    newest first, the runs down to a customer run are one cycle. A cycle with a run that has not
    finished (it is running, or its process ended without logging the end) is left out, as are
    runs older than the oldest customer run read. A run logged before runs had an entity is a
    cycle of its own, without counts per entity.
    """
    found = []
    group: list[RunRecord] = []
    for run in runs:
        group.append(run)
        if run.entity is not None and run.entity != CUSTOMER:
            continue
        cycle = _cycle(group[::-1])
        if cycle is not None:
            found.append(cycle)
        group = []
    return found


def _cycle(runs: Sequence[RunRecord]) -> Cycle | None:
    """The cycle of ``runs`` (oldest first), if every one finished."""
    ends = [run.finished_at for run in runs]
    if not ends or None in ends:
        return None
    stopped = [run for run in runs if run.status != RunStatus.COMPLETED]
    return Cycle(
        at=max(end for end in ends if end is not None),
        mode=runs[0].mode,
        completed=not stopped,
        counts={run.entity: dict(run.counts) for run in runs if run.entity is not None},
        message=next((run.message for run in stopped if run.message), None),
    )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def _parse(value: Any) -> datetime | None:
    """A time the service stored (ISO 8601), to the second; ``None`` if there is none."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _newer(cycle: Cycle, than: Any) -> bool:
    """Whether ``cycle`` is newer than the service's time ``than``; ties go to the service.

    The service stores its times to the second, after the cycle's runs have finished, so its
    own cycle is never newer in the run log than in its record.
    """
    service = _parse(than)
    return service is None or cycle.at.replace(microsecond=0) > service


async def tenant_status(
    db: StateDatabase, tenant: TenantConfig, vault: TokenVault | None
) -> dict[str, Any]:
    """One tenant's status as JSON-ready data.

    ``last_cycle`` is the newer of the service's last cycle and the last finished cycle in the
    run log (a ``sync --once`` or ``retry``, or the service's own); from the run log it has when
    it ended, its mode, ``completed`` or ``stopped``, its counts per entity and why it stopped.
    ``last_success_at`` is the newer of the service's and the end of the last cycle in the run
    log that completed (records may have failed: the sync itself did not stop).

    ``state`` is the service's (``ok``, ``failing``, ``reconnect needed``, ``starting``), or
    ``never run`` / ``not running`` when no service ran, except that when the last cycle is one
    from the run log newer than the service's and it stopped, the tenant is ``failing`` with
    that cycle's reason. A newer one-off sync that completed does not clear a service's
    ``failing`` or ``reconnect needed``: the service itself has not synced since. An
    authorization-code tenant without tokens is ``not connected`` whatever ran.
    """
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
    runs = await db.tenant(tenant.name).runs(limit=RUN_WINDOW)
    logged = cycles(runs)
    health = values.get("health") or {}
    state, reason = health.get("state"), health.get("reason")
    if state is None:
        state = "never run" if not runs else "not running"
    last = values.get("last_cycle")
    if logged and _newer(logged[0], (last or {}).get("at")):
        last = logged[0].as_json()
        if not logged[0].completed:
            state, reason = FAILING, logged[0].message
    last_success = values.get("last_success_at")
    success = next((cycle for cycle in logged if cycle.completed), None)
    if success is not None and _newer(success, last_success):
        last_success = _iso(success.at)
    fortnox = "service account"
    if tenant.fortnox.auth == "authorization-code":
        fortnox = await _fortnox_connection(tenant, vault)
        if fortnox == "not connected":
            state = "not connected"
    return {
        "tenant": tenant.name,
        "state": state,
        "reason": reason,
        "last_cycle": last,
        "last_success_at": last_success,
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
            f"  webCRM: {status['connections']['webcrm']}",
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
