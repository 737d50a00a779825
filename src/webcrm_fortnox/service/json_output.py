"""The ``--json`` documents of ``errors``, ``conflicts``, ``plan`` and ``match``.

Each command prints one JSON object, ``{"tenants": [...]}``, one entry per tenant it acted on,
in the shapes the README documents. Field values are the canonical values the sync compares:
text, whole numbers, ``true``/``false``, ``null`` for blank, and decimal numbers as text (so no
öre is lost to floating point). Nothing here reads or writes a system, and no configuration
value is included, so a document can never carry a secret.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.console import Console

from webcrm_fortnox.engine.matching import MatchResult
from webcrm_fortnox.engine.merge import FieldChange
from webcrm_fortnox.engine.plan import Action
from webcrm_fortnox.engine.ports import Conflict, ConflictReport, RecordError, SourceRecord, Value
from webcrm_fortnox.service.runner import TenantRun
from webcrm_fortnox.store.queries import MatchProposal


def print_document(console: Console, tenants: Sequence[dict[str, Any]]) -> None:
    """Print ``{"tenants": tenants}`` as one JSON document."""
    console.print_json(json.dumps({"tenants": list(tenants)}, ensure_ascii=False))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _value(value: Value) -> str | int | float | bool | None:
    if isinstance(value, Decimal):
        return str(value)
    if value == "":
        return None
    return value


def error_entry(error: RecordError) -> dict[str, Any]:
    """One failing record, as ``errors --json`` lists it."""
    return {
        "id": error.id,
        "entity": error.entity,
        "system": error.system,
        "record_id": error.record_id,
        "kind": error.kind.value,
        "field": error.field,
        "vendor_code": error.vendor_code,
        "vendor_message": error.vendor_message,
        "reason": error.reason,
        "attempts": error.attempts,
        "first_seen": _iso(error.first_seen),
        "last_seen": _iso(error.last_seen),
    }


def errors_tenant(tenant: str, errors: Iterable[RecordError]) -> dict[str, Any]:
    """A tenant's entry of ``errors --json``."""
    return {"tenant": tenant, "errors": [error_entry(error) for error in errors]}


def _report(report: ConflictReport) -> dict[str, Any]:
    return {
        "field": report.field,
        "webcrm_value": _value(report.webcrm_value),
        "fortnox_value": _value(report.fortnox_value),
        "base_value": _value(report.base_value),
        "policy": report.policy.value,
        "kept": report.resolution,
    }


def conflict_entry(conflict: Conflict) -> dict[str, Any]:
    """One conflict, as ``conflicts --json`` lists it."""
    return {
        "id": conflict.id,
        "entity": conflict.entity,
        "webcrm_id": conflict.webcrm_id,
        "fortnox_id": conflict.fortnox_id,
        **_report(conflict.report),
        # Closed without a decision too: replaced by a later conflict, or its pair unlinked.
        "open": conflict.resolved_at is None,
        "created_at": _iso(conflict.created_at),
        "resolved_at": _iso(conflict.resolved_at),
    }


def conflicts_tenant(tenant: str, conflicts: Iterable[Conflict]) -> dict[str, Any]:
    """A tenant's entry of ``conflicts --json``."""
    return {"tenant": tenant, "conflicts": [conflict_entry(c) for c in conflicts]}


def _change(change: FieldChange) -> dict[str, Any]:
    return {
        "system": change.system,
        "field": change.field,
        "old": _value(change.old),
        "new": _value(change.new),
    }


def _name(action: Action) -> str | None:
    for system in ("webcrm", "fortnox"):
        record = action.records.get(system)
        if record is not None and record.fields.get("name"):
            return str(record.fields["name"])
    return None


def action_entry(action: Action) -> dict[str, Any]:
    """One planned action, as ``plan --json`` lists it."""
    return {
        "kind": action.kind.value,
        "entity": action.entity,
        "webcrm_id": action.webcrm_id,
        "fortnox_id": action.fortnox_id,
        "name": _name(action),
        "source": action.source,
        "key": action.key,
        "changes": [_change(change) for change in action.changes],
        "conflicts": [_report(report) for report in action.conflicts],
        "reason": action.reason,
    }


def _stopped(run: TenantRun) -> dict[str, Any]:
    return {
        "tenant": run.tenant,
        "stopped": run.reason if run.stopped else None,
        "setup_problems": [str(problem) for problem in run.setup_problems],
    }


def plan_tenant(run: TenantRun) -> dict[str, Any]:
    """A tenant's entry of ``plan --json``: per entity, the actions and their counts."""
    plans = []
    for result in run.results:
        if result.plan is None:
            continue
        actions = result.plan.actions
        plans.append(
            {
                "entity": result.entity,
                "mode": result.mode.value,
                "counts": dict(sorted(Counter(a.kind.value for a in actions).items())),
                "actions": [action_entry(action) for action in actions],
            }
        )
    return {**_stopped(run), "plans": plans}


def _record(record: SourceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": _value(record.fields.get("name")),
        "eligible": record.eligible,
        "excluded_reason": record.excluded_reason,
    }


def match_tenant(run: TenantRun) -> dict[str, Any]:
    """A tenant's entry of ``match --json``: pairs, ambiguous candidates, one-sided records and
    how many decisions were recorded."""
    result = run.matches or MatchResult()
    return {
        **_stopped(run),
        "pairs": [
            {"webcrm": _record(p.webcrm), "fortnox": _record(p.fortnox), "key": p.key}
            for p in result.pairs
        ],
        "ambiguous": [
            {
                "key": a.key,
                "webcrm": [_record(r) for r in a.webcrm],
                "fortnox": [_record(r) for r in a.fortnox],
            }
            for a in result.ambiguous
        ],
        "webcrm_only": [_record(r) for r in result.webcrm_only],
        "fortnox_only": [_record(r) for r in result.fortnox_only],
        "decisions_recorded": run.decisions,
        "proposals": [proposal_json(p) for p in run.proposals],
    }


def proposal_json(proposal: MatchProposal) -> dict[str, Any]:
    """A stored match proposal as ``match --json`` and ``match --list --json`` show it."""
    return {
        "id": proposal.id,
        "entity": proposal.entity,
        "webcrm_id": proposal.webcrm_id,
        "fortnox_id": proposal.fortnox_id,
        "webcrm_name": proposal.webcrm_name,
        "fortnox_name": proposal.fortnox_name,
        "key": proposal.key,
        "candidates": proposal.candidates,
        "state": proposal.state,
        "proposed_at": _iso(proposal.proposed_at),
        "decided_at": _iso(proposal.decided_at),
        "decided_by": proposal.decided_by,
    }


def proposals_tenant(tenant: str, proposals: Sequence[MatchProposal]) -> dict[str, Any]:
    """A tenant's entry of ``match --list --json``: its stored proposals."""
    return {"tenant": tenant, "proposals": [proposal_json(p) for p in proposals]}
