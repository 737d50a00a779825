"""What the commands print: plans, run summaries, errors, conflicts and match proposals (Rich).

Everything here only formats values it is given; nothing reads or writes a system. Record values
come from the systems and are printed as text (never as Rich markup), and no configuration value
is printed, so a secret can never end up on the screen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from webcrm_fortnox.domain.line import LINES, lines_diff
from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.engine.matching import MatchResult
from webcrm_fortnox.engine.merge import FieldChange
from webcrm_fortnox.engine.plan import Action, ActionKind, system_name
from webcrm_fortnox.engine.ports import (
    Conflict,
    ConflictReport,
    RecordError,
    SourceRecord,
    other_system,
)
from webcrm_fortnox.engine.sync import RunResult
from webcrm_fortnox.service.runner import TenantRun
from webcrm_fortnox.store.queries import MatchProposal

#: A width no table reaches: how wide a table is when nothing limits it.
_UNBOUNDED = 100_000

_STATUS_COLUMNS = ("synced", "excluded", "unlinked", "conflict", "review", "locked", "failed")


def _print_table(console: Console, table: Table) -> None:
    """Print ``table``; into a pipe or a file at its natural width, so that no cell breaks a
    word or a value (an id, a vendor's message) across lines. Whatever shows it may fold the
    long lines; a terminal wraps cells at its width, between words where it can."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum
    width = console.width
    # ``print(width=...)`` cannot go past the console's width: widen the console itself.
    console.width = max(width, natural)
    try:
        console.print(table)
    finally:
        console.width = width


def _value(value: Any) -> str:
    return "(blank)" if value is None or value == "" else repr(value)


def _change(change: FieldChange) -> str:
    if change.field == LINES:
        # A document's lines are one value; shown line by line, as what is added, removed or
        # changed, rather than as two blobs of JSON.
        entries = lines_diff(change.old, change.new) or ["reordered"]
        return "\n".join(f"{system_name(change.system)} lines: {entry}" for entry in entries)
    return (
        f"{system_name(change.system)} {change.field}: {_value(change.old)} → {_value(change.new)}"
    )


def _conflict(report: ConflictReport) -> str:
    both = (
        f"{report.field}: webCRM {_value(report.webcrm_value)} vs Fortnox "
        f"{_value(report.fortnox_value)}"
    )
    if report.resolution is None:
        return f"conflict {both}; left for a person (policy {report.policy.value})"
    kept = system_name(report.resolution)
    return f"conflict {both}; {kept}'s value kept (policy {report.policy.value})"


def _action_label(action: Action) -> str:
    if action.kind is ActionKind.CREATE and action.source is not None:
        return f"create in {system_name(other_system(action.source))}"
    if action.kind is ActionKind.LINK and action.key:
        return f"link by {action.key}"
    return action.kind.value


def action_details(action: Action) -> str:
    """The field-by-field diff, conflicts and reason of one planned action, one per line."""
    lines: list[str] = []
    if action.kind is ActionKind.CREATE:
        lines += [
            f"{change.field} = {_value(change.new)}"
            if change.field != LINES
            else "\n".join(f"lines: {entry}" for entry in lines_diff(None, change.new))
            for change in action.changes
        ]
    else:
        lines += [_change(change) for change in action.changes]
    lines += [_conflict(report) for report in action.conflicts]
    if action.reason:
        lines.append(action.reason)
    return "\n".join(lines)


def print_plan(console: Console, run: TenantRun) -> None:
    """The actions a sync would take for one tenant, per entity."""
    for result in run.results:
        if result.plan is None:
            continue
        actions = result.plan.actions
        title = f"{run.tenant}: {result.entity} plan ({result.mode.value})"
        if not actions:
            console.print(Text(f"{title}: nothing to do, both sides agree"))
            continue
        table = Table(title=title, show_lines=True, title_justify="left")
        for column in ("Action", "webCRM", "Fortnox", "Name", "Details"):
            table.add_column(column, overflow="fold")
        for action in actions:
            table.add_row(
                _action_label(action),
                action.webcrm_id or "",
                action.fortnox_id or "",
                Text(action.name or ""),
                Text(action_details(action)),
            )
        _print_table(console, table)
        counts = Counter(action.kind.value for action in actions)
        console.print(Text(", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))))


def print_stopped(console: Console, run: TenantRun) -> None:
    """Why a tenant could not complete, with webCRM's missing setup when that is the reason."""
    console.print(Text(f"{run.tenant}: stopped: {run.reason}", style="bold red"))
    if run.setup_problems:
        console.print(Text("Create or change in webCRM's configuration (or in [tenant.fields]):"))
        for problem in run.setup_problems:
            console.print(Text(f"  - {problem}"))


def _writes(result: RunResult) -> int:
    return sum(1 for outcome in result.outcomes if outcome.action.writes)


def print_summary(console: Console, runs: Sequence[TenantRun]) -> None:
    """The summary table of a sync: per tenant and entity, how the records ended."""
    table = Table(title="Sync summary", title_justify="left")
    for column in ("Tenant", "Entity", "Status", *_STATUS_COLUMNS, "writes"):
        table.add_column(column, justify="left" if column[0].isupper() else "right")
    for run in runs:
        if not run.results:
            table.add_row(run.tenant, "", "stopped", *("" for _ in _STATUS_COLUMNS), "")
        for result in run.results:
            counts = result.counts
            status = "stopped" if run.stopped else result.status.value
            table.add_row(
                run.tenant,
                result.entity,
                status,
                *(str(counts.get(column, 0)) for column in _STATUS_COLUMNS),
                str(_writes(result)),
            )
    console.print(table)
    for run in runs:
        for result in run.results:
            if result.not_attempted:
                console.print(
                    Text(
                        f"{run.tenant}: {result.entity}: {result.not_attempted} change(s) not "
                        "attempted; the next run takes them up"
                    )
                )


#: The command that shows each kind of record needing a person, in the order they are named.
_WHERE_TO_LOOK = (
    (RecordStatus.FAILED, "`webcrm-fortnox errors` and `retry`"),
    (RecordStatus.LOCKED, "`webcrm-fortnox errors`"),
    (RecordStatus.CONFLICT, "`webcrm-fortnox conflicts` and `conflicts --take`"),
    (RecordStatus.REVIEW, "`webcrm-fortnox match`"),
)


def attention_hint(runs: Sequence[TenantRun]) -> str:
    """Where to look at the records of ``runs`` that need a person: the commands for the kinds
    there are (a manual conflict is settled with ``conflicts``, not retried)."""
    statuses = {o.status for run in runs for r in run.results for o in r.needing_attention}
    where: list[str] = []
    for status, command in _WHERE_TO_LOOK:
        if status in statuses and not any(command in shown for shown in where):
            where.append(command)
    return f"Some records need attention: see {'; '.join(where)}."


def print_attention(console: Console, run: TenantRun) -> None:
    """The records of a run that need a person: failed, ambiguous, open conflicts."""
    outcomes: list[RecordOutcome] = [o for r in run.results for o in r.needing_attention]
    if not outcomes:
        return
    table = Table(title=f"{run.tenant}: records needing attention", title_justify="left")
    for column in ("Status", "webCRM", "Fortnox", "Name", "Why"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        table.add_row(
            outcome.status.value,
            outcome.webcrm_id or "",
            outcome.fortnox_id or "",
            Text(outcome.action.name or ""),
            Text(outcome.detail or ""),
        )
    _print_table(console, table)


def print_errors(console: Console, tenant: str, errors: Iterable[RecordError]) -> None:
    """Records that failed and have not synced since, with the vendor's code and message."""
    rows = list(errors)
    if not rows:
        console.print(Text(f"{tenant}: no failing records"))
        return
    table = Table(title=f"{tenant}: failing records", show_lines=True, title_justify="left")
    columns = ("ID", "Record", "Name", "Field", "Code", "Vendor message", "Reason", "Attempts")
    for column in columns:
        table.add_column(column, overflow="fold")
    for error in rows:
        table.add_row(
            str(error.id),
            f"{error.entity} {system_name(error.system)} {error.record_id}",
            Text(error.name or ""),
            error.field or "",
            error.vendor_code or "",
            Text(error.vendor_message or ""),
            Text(error.reason),
            str(error.attempts),
        )
    _print_table(console, table)


def refusal_line(error: RecordError) -> str:
    """One failing record on one line: what it is, its name, the field, the vendor's code and
    the reason (``errors`` shows the same in its columns)."""
    what = f"{error.entity} {system_name(error.system)} {error.record_id}"
    if error.name:
        what += f" {error.name!r}"
    if error.field:
        what += f", field {error.field}"
    if error.vendor_code:
        what += f" (code {error.vendor_code})"
    return f"{what}: {error.reason}"


def print_conflicts(console: Console, tenant: str, conflicts: Iterable[Conflict]) -> None:
    """Fields both sides changed, with both values, the base and how each was settled."""
    rows = list(conflicts)
    if not rows:
        console.print(Text(f"{tenant}: no conflicts"))
        return
    table = Table(title=f"{tenant}: conflicts", show_lines=True, title_justify="left")
    columns = ("ID", "Entity", "webCRM", "Fortnox", "Field", "webCRM value", "Fortnox value")
    for column in (*columns, "Base", "Policy", "Outcome"):
        table.add_column(column, overflow="fold")
    for conflict in rows:
        report = conflict.report
        if report.resolution is not None:
            outcome = f"{system_name(report.resolution)} kept"
        else:
            # A conflict closed undecided was replaced by a later one, or its pair unlinked.
            outcome = "open" if conflict.resolved_at is None else "closed undecided"
        table.add_row(
            str(conflict.id),
            conflict.entity,
            conflict.webcrm_id,
            conflict.fortnox_id,
            report.field,
            Text(_value(report.webcrm_value)),
            Text(_value(report.fortnox_value)),
            Text(_value(report.base_value)),
            report.policy.value,
            outcome,
        )
    _print_table(console, table)


def print_proposals(console: Console, tenant: str, proposals: Iterable[MatchProposal]) -> None:
    """Stored match proposals with their ids (what ``match --accept ID`` takes) and states."""
    rows = list(proposals)
    if not rows:
        console.print(Text(f"{tenant}: no match proposals (`webcrm-fortnox match` makes them)"))
        return
    table = Table(title=f"{tenant}: match proposals", title_justify="left")
    for column in ("ID", "Entity", "webCRM", "Fortnox", "Matched by", "Candidates", "State"):
        table.add_column(column, overflow="fold")
    for proposal in rows:
        table.add_row(
            str(proposal.id),
            proposal.entity,
            Text(f"{proposal.webcrm_id} {proposal.webcrm_name or '(no name)'}"),
            Text(f"{proposal.fortnox_id} {proposal.fortnox_name or '(no name)'}"),
            proposal.key,
            Text(proposal.candidates or ""),
            proposal.state,
        )
    _print_table(console, table)


def _record(record: SourceRecord) -> str:
    name = record.fields.get("name") or "(no name)"
    excluded = "" if record.eligible else f" [not synced: {record.excluded_reason}]"
    return f"{record.id} {name}{excluded}"


def print_matches(
    console: Console, tenant: str, result: MatchResult, ids: Mapping[tuple[str, str], int]
) -> None:
    """Proposed pairs (by their stored ids, which ``match --accept ID`` takes), ambiguous
    candidates with the id of each candidate pair, and records found on one side only."""
    pairs = Table(title=f"{tenant}: pairs", title_justify="left")
    for column in ("#", "webCRM", "Fortnox", "Matched by"):
        pairs.add_column(column, overflow="fold")
    for pair in result.pairs:
        number = ids.get((pair.webcrm.id, pair.fortnox.id))
        pairs.add_row(
            "" if number is None else str(number),
            Text(_record(pair.webcrm)),
            Text(_record(pair.fortnox)),
            pair.key,
        )
    _print_table(console, pairs)
    if result.ambiguous:
        table = Table(title=f"{tenant}: ambiguous candidates", title_justify="left")
        for column in ("Same", "webCRM", "Fortnox", "Candidate pairs (choose one)"):
            table.add_column(column, overflow="fold")
        for ambiguity in result.ambiguous:
            candidates = [
                f"#{ids[w.id, f.id]}: {w.id} = {f.id}"
                for w in ambiguity.webcrm
                for f in ambiguity.fortnox
                if (w.id, f.id) in ids
            ]
            table.add_row(
                ambiguity.key,
                Text("\n".join(_record(r) for r in ambiguity.webcrm)),
                Text("\n".join(_record(r) for r in ambiguity.fortnox)),
                Text("\n".join(candidates)),
            )
        _print_table(console, table)
    one_sided = (("webCRM", result.webcrm_only), ("Fortnox", result.fortnox_only))
    for side, records in one_sided:
        if records:
            console.print(Text(f"Only in {side} ({len(records)}):"))
            for record in records:
                console.print(Text(f"  {_record(record)}"))
