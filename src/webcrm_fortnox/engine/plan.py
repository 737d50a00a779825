"""Planning a run: read what changed, decide every action, write nothing.

The plan is a list of :class:`Action` values, one per record or pair, that ``plan`` prints and
``sync`` applies (see :mod:`webcrm_fortnox.engine.apply`). Reading is all this module does: it
calls ``changes``/``get`` on the sources and reads the state store, never writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypedDict

from webcrm_fortnox.engine.matching import Ambiguity, match_records
from webcrm_fortnox.engine.merge import FieldChange, Merge, merge
from webcrm_fortnox.engine.ports import (
    SYSTEMS,
    ConflictReport,
    EntitySpec,
    ErrorKind,
    Intent,
    Link,
    MatchDecision,
    MatchVerdict,
    RecordError,
    RecordSource,
    SourceRecord,
    StateStore,
    System,
    other_system,
)

_NAMES: Mapping[System, str] = {"webcrm": "webCRM", "fortnox": "Fortnox"}


def system_name(system: System) -> str:
    """How a system is spelled for people."""
    return _NAMES[system]


class Mode(StrEnum):
    """How a run finds the records to look at."""

    #: records changed since the cursors (a full read for a side without a cursor yet)
    INCREMENTAL = "incremental"
    #: every record on both sides: repairs drift and links or creates what is missing
    FULL = "full"
    #: only records with open errors
    RETRY = "retry"


class ActionKind(StrEnum):
    """What an action does."""

    CREATE = "create"  #: create the record on the other side, then link the two
    UPDATE = "update"  #: write changed fields on one or both sides
    REFRESH = "refresh"  #: both sides already agree; only the stored base moves
    LINK = "link"  #: pair two existing records (matched), writing what differs
    CONFLICT = "conflict"  #: both sides changed a field; left for a manual decision
    RESOLVE = "resolve"  #: a create of an earlier run has no known outcome: look it up first
    UNLINK = "unlink"  #: one record of a pair is gone; the other is kept, never deleted
    EXCLUDE = "exclude"  #: not synced by configuration (e.g. its webCRM Type)
    REVIEW = "review"  #: ambiguous match: a person must decide (``match``)
    SKIP = "skip"  #: cannot be synced as it is (e.g. a required field is empty); stored as error


@dataclass(frozen=True)
class Action:
    """One step of a plan.

    Attributes:
        kind: what it does.
        entity: e.g. ``"customer"``.
        webcrm_id: the webCRM record concerned, if any.
        fortnox_id: the Fortnox record concerned, if any.
        source: for a create, resolve or skip: the system the record comes from.
        changes: the field writes, each naming its target system.
        conflicts: fields both sides changed differently, with how they were settled.
        reason: plain English, for skips, exclusions, reviews, unlinks and held fields.
        key: for a link, the match key (or ``"decision"``, ``"idempotency key"``).
    """

    kind: ActionKind
    entity: str
    webcrm_id: str | None = None
    fortnox_id: str | None = None
    source: System | None = None
    changes: tuple[FieldChange, ...] = ()
    conflicts: tuple[ConflictReport, ...] = ()
    reason: str | None = None
    key: str | None = None
    # What apply needs; not part of what is shown.
    records: Mapping[System, SourceRecord] = field(default_factory=dict, repr=False)
    link: Link | None = field(default=None, repr=False)
    base: Mapping[str, Any] = field(default_factory=dict, repr=False)
    intent: Intent | None = field(default=None, repr=False)
    #: for a create: look the key up on the target first (it was not read in full this run)
    lookup_first: bool = field(default=False, repr=False)
    #: the record has open errors that this action makes moot (it is excluded now)
    clears_errors: bool = field(default=False, repr=False)

    def id_on(self, system: System) -> str | None:
        """The record id of this action on ``system``."""
        return self.webcrm_id if system == "webcrm" else self.fortnox_id

    @property
    def name(self) -> str | None:
        """The record's name (webCRM's, else Fortnox's), when it has one."""
        for system in SYSTEMS:
            record = self.records.get(system)
            if record is not None and record.fields.get("name"):
                return str(record.fields["name"])
        return None

    @property
    def writes(self) -> bool:
        """Whether applying it writes to a system (as opposed to the state store only)."""
        return bool(self.changes) or self.kind in (ActionKind.CREATE, ActionKind.RESOLVE)


@dataclass
class Plan:
    """Every action of a run, and the cursors to store once they are all handled."""

    entity: str
    mode: Mode
    actions: list[Action] = field(default_factory=list)
    #: per system: the cursor to store after applying (absent: leave the cursor as it is)
    cursors: dict[System, str | None] = field(default_factory=dict)
    #: the ambiguities this run's matching found (their records are held for review)
    ambiguous: list[Ambiguity] = field(default_factory=list)

    def of_kind(self, *kinds: ActionKind) -> list[Action]:
        """The actions of the given kinds, in plan order."""
        return [a for a in self.actions if a.kind in kinds]


class _IdArgs(TypedDict):
    webcrm_id: str | None
    fortnox_id: str | None


@dataclass(frozen=True)
class _Ids:
    webcrm: str | None
    fortnox: str | None

    @classmethod
    def on(cls, system: System, record_id: str) -> _Ids:
        return cls(record_id, None) if system == "webcrm" else cls(None, record_id)

    def kw(self) -> _IdArgs:
        return {"webcrm_id": self.webcrm, "fortnox_id": self.fortnox}


class _Planner:
    def __init__(
        self,
        spec: EntitySpec,
        state: StateStore,
        sources: Mapping[System, RecordSource],
        mode: Mode,
    ) -> None:
        self.spec = spec
        self.state = state
        self.sources = sources
        self.mode = mode
        self.plan = Plan(spec.entity, mode)
        self.read: dict[System, dict[str, SourceRecord]] = {s: {} for s in SYSTEMS}
        self.deleted: dict[System, set[str]] = {s: set() for s in SYSTEMS}
        self.handled: dict[System, set[str]] = {s: set() for s in SYSTEMS}
        self.links_by: dict[System, dict[str, Link]] = {s: {} for s in SYSTEMS}
        self.open_conflicts: dict[int, set[tuple[str, str, str]]] = {}
        self.errors: dict[tuple[System, str], RecordError] = {}
        self.full = False

    @property
    def entity(self) -> str:
        return self.spec.entity

    def add(self, action: Action) -> None:
        if action.kind is ActionKind.EXCLUDE and any(
            (s, action.id_on(s)) in self.errors for s in SYSTEMS
        ):
            action = replace(action, clears_errors=True)
        self.plan.actions.append(action)
        for system in SYSTEMS:
            record_id = action.id_on(system)
            if record_id is not None:
                self.handled[system].add(record_id)

    async def run(self, retry: Sequence[RecordError]) -> Plan:
        links = await self.state.links(self.entity)
        for link in links:
            self.links_by["webcrm"][link.webcrm_id] = link
            self.links_by["fortnox"][link.fortnox_id] = link
        for conflict in await self.state.conflicts(self.entity, open_only=True):
            self.open_conflicts.setdefault(conflict.link_id, set()).add(
                _conflict_key(conflict.report)
            )
        for error in await self.state.open_errors(self.entity):
            self.errors[error.system, error.record_id] = error
        self.full = full = await self._read(retry)
        if full:
            for link in links:
                await self._pair(link)
        for system in SYSTEMS:
            for record_id in list(self.read[system]) + sorted(self.deleted[system]):
                linked = self.links_by[system].get(record_id)
                if linked is not None:
                    await self._pair(linked)
        await self._resolve_intents()
        await self._unlinked(full)
        return self.plan

    async def _read(self, retry: Sequence[RecordError]) -> bool:
        """Fill ``self.read``; returns whether both sides were read in full."""
        if self.mode is Mode.RETRY:
            for error in retry:
                record = await self.sources[error.system].get(error.record_id)
                if record is None:
                    self.deleted[error.system].add(error.record_id)
                else:
                    self.read[error.system][record.id] = record
            return False
        cursors = {s: await self.state.cursor(s, self.entity) for s in SYSTEMS}
        full = self.mode is Mode.FULL or any(c is None for c in cursors.values())
        for system in SYSTEMS:
            batch = await self.sources[system].changes(None if full else cursors[system])
            for record in batch.records:
                self.read[system][record.id] = record
            self.deleted[system].update(batch.deleted)
            self.plan.cursors[system] = batch.next_cursor
        return full

    async def _record(
        self, system: System, record_id: str, link: Link | None = None
    ) -> SourceRecord | None:
        """A record as it is now: from this run's read, or fetched when it was not read.

        The partner (on ``link``) of a record that was read is not fetched when the pair is in
        step and the spec says its system's change read lists every change that matters: it is
        then as the last sync left it, the link's base, and reading it would cost a request per
        changed record for nothing.
        """
        if record_id in self.deleted[system]:
            return None
        record = self.read[system].get(record_id)
        if record is None and not self.full:
            if link is not None and self._in_step(link):
                return SourceRecord(id=record_id, fields=dict(link.base))
            # After a full read, a record that was not listed does not exist.
            record = await self.sources[system].get(record_id)
            if record is not None:
                self.read[system][record_id] = record
        return record

    def _in_step(self, link: Link) -> bool:
        """Whether both records of ``link`` held its base after the last sync, and a record
        not listed by its change read this run still does.

        Not when the pair is held (its webCRM record is not eligible), has an open conflict
        (each side kept its own value) or an open error (a write may have failed half way), nor
        when the base lacks a field the record read carries: the base holds only what both sides
        agreed on, and a field left out of it (two different blanks, say) is not known there.
        """
        if not (
            self.spec.unlisted_partner_is_base
            and self.mode is Mode.INCREMENTAL
            and not link.held
            and link.id not in self.open_conflicts
            and not any((s, link.id_on(s)) in self.errors for s in SYSTEMS)
        ):
            return False
        for system in SYSTEMS:
            read = self.read[system].get(link.id_on(system))
            if read is not None and any(
                name in self.spec.rules and name not in link.base for name in read.fields
            ):
                return False
        return True

    async def _pair(self, link: Link) -> None:
        if link.webcrm_id in self.handled["webcrm"] or link.fortnox_id in self.handled["fortnox"]:
            return
        if self._seen_before(link):
            self.handled["webcrm"].add(link.webcrm_id)
            self.handled["fortnox"].add(link.fortnox_id)
            return
        webcrm = await self._record("webcrm", link.webcrm_id, link)
        fortnox = await self._record("fortnox", link.fortnox_id, link)
        ids = _Ids(link.webcrm_id, link.fortnox_id)
        if webcrm is None or fortnox is None:
            gone: System = "webcrm" if webcrm is None else "fortnox"
            kept = other_system(gone)
            reason = f"the {system_name(gone)} record is gone; the {system_name(kept)} one is kept"
            if webcrm is None and fortnox is None:
                reason = "both records are gone"
            self.add(Action(ActionKind.UNLINK, self.entity, reason=reason, link=link, **ids.kw()))
            survivor = webcrm or fortnox
            if survivor is not None:
                # Deletions do not propagate: the survivor is a record without a partner, and
                # like any other one it is created on the other side (when it is eligible).
                self._one_sided(kept, survivor, lookup_first=not self.full)
            return
        records: dict[System, SourceRecord] = {"webcrm": webcrm, "fortnox": fortnox}
        if not webcrm.eligible:
            reason = webcrm.excluded_reason or "not eligible for sync"
            self.add(Action(ActionKind.EXCLUDE, self.entity, reason=reason, link=link, **ids.kw()))
            return
        result = merge(self.spec.rules, link.base, webcrm, fortnox)
        known = self.open_conflicts.get(link.id, set())
        fresh = tuple(c for c in result.conflicts if _conflict_key(c) not in known)
        changes = _changes(result)
        if changes:
            kind = ActionKind.UPDATE
        elif any(c.resolution is None for c in fresh):
            kind = ActionKind.CONFLICT
        elif dict(result.base) != dict(link.base) or fresh or link.held:
            # (a held pair whose webCRM record is eligible again is saved, no longer held)
            kind = ActionKind.REFRESH
        else:
            self.handled["webcrm"].add(webcrm.id)
            self.handled["fortnox"].add(fortnox.id)
            return  # in step: nothing to do, nothing to show
        self.add(
            Action(
                kind,
                self.entity,
                changes=changes,
                conflicts=fresh,
                reason=_held(result),
                records=records,
                link=link,
                base=result.base,
                **ids.kw(),
            )
        )

    def _seen_before(self, link: Link) -> bool:
        """Whether only one record of the pair was read, and it holds what both last agreed on.

        Change feeds re-read an overlap window on purpose (and show our own writes again); such
        a record says nothing new, and its partner, had it changed, is in its own feed. Reading
        the partner anyway would cost a request per re-read record on every run, idle or not.
        A record whose timestamp is later than the pair's last sync is read with its partner
        even when its fields equal the base: what changed may be its eligibility (a webCRM Type
        made a customer type again), and the partner may hold changes held back meanwhile.
        """
        if self.full or link.id in self.open_conflicts:
            return False
        if any(
            link.id_on(s) in self.deleted[s] or (s, link.id_on(s)) in self.errors for s in SYSTEMS
        ):
            return False
        read = [s for s in SYSTEMS if link.id_on(s) in self.read[s]]
        if len(read) != 1:
            return False
        record = self.read[read[0]][link.id_on(read[0])]
        if not record.eligible:
            return False
        if record.modified_at is not None and record.modified_at > link.updated_at:
            return False
        return all(
            name in link.base and link.base[name] == value
            for name, value in record.fields.items()
            if name in self.spec.rules
        )

    async def _resolve_intents(self) -> None:
        for intent in await self.state.pending_intents(self.entity):
            source = other_system(intent.target)
            if intent.source_id in self.handled[source]:
                continue
            record = await self._record(source, intent.source_id)
            # The record it may have created is settled by the same lookup, not on its own.
            for created in self.read[intent.target].values():
                if created.key == intent.key and created.id not in self.links_by[intent.target]:
                    self.handled[intent.target].add(created.id)
            self.add(
                Action(
                    ActionKind.RESOLVE,
                    self.entity,
                    source=source,
                    reason="an earlier create has no known outcome; it is looked up first",
                    records={} if record is None else {source: record},
                    intent=intent,
                    **_Ids.on(source, intent.source_id).kw(),
                )
            )

    async def _unlinked(self, full: bool) -> None:
        rest: dict[System, dict[str, SourceRecord]] = {
            s: {
                i: r
                for i, r in self.read[s].items()
                if i not in self.handled[s] and i not in self.links_by[s]
            }
            for s in SYSTEMS
        }
        # A record carrying the other's id as its key was created from it: they belong together.
        # Partners linked by their key in this run, and to which record: a second record
        # carrying the same key is a copy, like one carrying the key of an older link.
        claimed: dict[System, dict[str, SourceRecord]] = {s: {} for s in SYSTEMS}
        for system in SYSTEMS:
            partner_system = other_system(system)
            for record in sorted(rest[system].values(), key=lambda r: _id_order(r.id)):
                key = record.key
                if key is None or record.id not in rest[system]:
                    continue
                holder = claimed[partner_system].get(key)
                if holder is not None:
                    rest[system].pop(record.id)
                    name = holder.fields.get("name")
                    reason = (
                        f"carries {system_name(partner_system)} record {key} like "
                        f"{system_name(system)} record {holder.id}"
                        f"{f' ({name})' if name else ''}, which is linked to it; nothing was "
                        "written for this one: correct it, or decide with `match`"
                    )
                    self._review(system, record, reason, "idempotency key")
                    continue
                if key in self.links_by[partner_system]:
                    # Made from a record that is paired with another: a copy, never created back.
                    rest[system].pop(record.id)
                    other = self.links_by[partner_system][key].id_on(system)
                    reason = (
                        f"created from {system_name(partner_system)} record {key}, which is "
                        f"linked to {other}: decide with `match`"
                    )
                    self._review(system, record, reason, "idempotency key")
                    continue
                partner = rest[partner_system].get(key)
                if partner is None and not full:
                    partner = await self.sources[partner_system].get(key)
                if partner is None:
                    continue
                rest[system].pop(record.id)
                rest[partner_system].pop(partner.id, None)
                claimed[partner_system][partner.id] = record
                self._link({system: record, partner_system: partner}, "idempotency key")
        decisions = await self.state.match_decisions(self.entity)
        if not full:
            await self._fetch_decided_partners(rest, decisions)
            self._still_ambiguous(rest, decisions)
        # In an incremental run only the records read are compared: a pair created on both
        # sides since the last run is linked rather than created twice.
        matched = match_records(
            self.spec.match_keys, rest["webcrm"].values(), rest["fortnox"].values(), decisions
        )
        for pair in matched.pairs:
            self._link({"webcrm": pair.webcrm, "fortnox": pair.fortnox}, pair.key)
        self.plan.ambiguous += matched.ambiguous
        for ambiguity in matched.ambiguous:
            sides: tuple[tuple[System, tuple[SourceRecord, ...]], ...] = (
                ("webcrm", ambiguity.webcrm),
                ("fortnox", ambiguity.fortnox),
            )
            for system, candidates_here in sides:
                others = ambiguity.fortnox if system == "webcrm" else ambiguity.webcrm
                candidates = ", ".join(r.id for r in others)
                reason = (
                    f"same {ambiguity.key} as {system_name(other_system(system))} "
                    f"record(s) {candidates}: decide with `match`"
                )
                for record in candidates_here:
                    self._review(system, record, reason, ambiguity.key)
        one_sided: tuple[tuple[System, list[SourceRecord]], ...] = (
            ("webcrm", matched.webcrm_only),
            ("fortnox", matched.fortnox_only),
        )
        for system, singles in one_sided:
            for record in singles:
                self._one_sided(system, record, lookup_first=not full)

    def _still_ambiguous(
        self, rest: dict[System, dict[str, SourceRecord]], decisions: Sequence[MatchDecision]
    ) -> None:
        """Keep records found ambiguous by a full read out of a partial read's matching.

        A partial read may hold only one of the candidates and would pair it by mistake; until
        a person decides (or a full run finds them unambiguous), they stay under review.
        """
        decided = {
            (system, d.webcrm_id if system == "webcrm" else d.fortnox_id)
            for d in decisions
            if d.verdict is MatchVerdict.ACCEPTED
            for system in SYSTEMS
        }
        for system in SYSTEMS:
            for record in list(rest[system].values()):
                error = self.errors.get((system, record.id))
                if error is None or error.kind is not ErrorKind.AMBIGUOUS:
                    continue
                if (system, record.id) in decided:
                    continue
                del rest[system][record.id]
                self._review(system, record, error.reason, error.field)

    async def _fetch_decided_partners(
        self, rest: dict[System, dict[str, SourceRecord]], decisions: Sequence[MatchDecision]
    ) -> None:
        """Read the partner of an unlinked record a person paired, when it was not read."""
        for decision in decisions:
            if decision.verdict is not MatchVerdict.ACCEPTED:
                continue
            for system in SYSTEMS:
                partner_system = other_system(system)
                partner_id = decision.fortnox_id if system == "webcrm" else decision.webcrm_id
                mine = decision.webcrm_id if system == "webcrm" else decision.fortnox_id
                if mine not in rest[system] or partner_id in rest[partner_system]:
                    continue
                if partner_id in self.links_by[partner_system]:
                    continue
                if partner_id in self.handled[partner_system]:
                    continue
                partner = await self.sources[partner_system].get(partner_id)
                if partner is not None:
                    rest[partner_system][partner_id] = partner

    def _review(self, system: System, record: SourceRecord, reason: str, key: str | None) -> None:
        """Hold ``record`` for a person to decide with ``match``."""
        self.add(
            Action(
                ActionKind.REVIEW,
                self.entity,
                source=system,
                reason=reason,
                key=key,
                records={system: record},
                **_Ids.on(system, record.id).kw(),
            )
        )

    def _link(self, records: Mapping[System, SourceRecord], key: str) -> None:
        webcrm, fortnox = records["webcrm"], records["fortnox"]
        ids = _Ids(webcrm.id, fortnox.id)
        if not webcrm.eligible:
            # Linked without writing anything: the pair is remembered (so the Fortnox record is
            # not created in webCRM as a duplicate) and syncs once the Type allows it.
            reason = (
                f"{webcrm.excluded_reason or 'not eligible for sync'}; linked to Fortnox "
                f"record {fortnox.id} by {key}, not synced until it is eligible"
            )
            self.add(
                Action(
                    ActionKind.LINK,
                    self.entity,
                    reason=reason,
                    key=key,
                    records=records,
                    **ids.kw(),
                )
            )
            return
        result = merge(self.spec.rules, None, webcrm, fortnox)
        self.add(
            Action(
                ActionKind.LINK,
                self.entity,
                changes=_changes(result),
                conflicts=tuple(result.conflicts),
                reason=_held(result),
                key=key,
                records=records,
                base=result.base,
                **ids.kw(),
            )
        )

    def _one_sided(self, system: System, record: SourceRecord, *, lookup_first: bool) -> None:
        self.add(one_sided_action(self.spec, system, record, lookup_first=lookup_first))


def one_sided_action(
    spec: EntitySpec, system: System, record: SourceRecord, *, lookup_first: bool
) -> Action:
    """The action for an unlinked record: create it on the other side, or say why not.

    Args:
        spec: the entity's rules.
        system: where ``record`` lives.
        record: the record without a partner.
        lookup_first: whether the create must first look for a record made from this one
            (when the other side was not read in full this run).
    """
    target = other_system(system)
    ids = _Ids.on(system, record.id)
    reason: str | None = None
    if not record.eligible:
        reason = record.excluded_reason or "not eligible for sync"
    elif target not in spec.create_in:
        reason = f"{spec.entity} records are not created in {system_name(target)}"
    if reason is not None:
        return Action(ActionKind.EXCLUDE, spec.entity, source=system, reason=reason, **ids.kw())
    missing = [
        name
        for name in spec.required_for_create.get(target, ())
        if record.fields.get(name) in (None, "")
    ]
    if missing:
        reason = (
            f"not created in {system_name(target)}: {', '.join(missing)} is empty "
            f"in {system_name(system)} and is required"
        )
        return Action(
            ActionKind.SKIP,
            spec.entity,
            source=system,
            reason=reason,
            key=missing[0],
            records={system: record},
            **ids.kw(),
        )
    payload = _payload(spec, record, target)
    return Action(
        ActionKind.CREATE,
        spec.entity,
        source=system,
        changes=tuple(FieldChange(target, k, None, v) for k, v in payload.items()),
        records={system: record},
        base=payload,
        lookup_first=lookup_first,
        **ids.kw(),
    )


def _payload(spec: EntitySpec, record: SourceRecord, target: System) -> dict[str, Any]:
    """The fields of ``record`` that may be written to ``target`` on create."""
    return {
        name: record.fields[name]
        for name, rule in spec.rules.items()
        if name in record.fields
        and rule.direction.writes_to(target)
        # A blank is simply not sent: the target's default stands.
        and record.fields[name] not in (None, "")
    }


def _id_order(record_id: str) -> tuple[int, str]:
    """Oldest first: numeric ids by value, others after them by text."""
    return (int(record_id), "") if record_id.isdigit() else (1 << 62, record_id)


def _changes(result: Merge) -> tuple[FieldChange, ...]:
    return tuple(c for system in SYSTEMS for c in result.writes[system].values())


def _held(result: Merge) -> str | None:
    if not result.held:
        return None
    return "; ".join(f"{name}: {why}" for name, why in result.held.items())


def _conflict_key(report: ConflictReport) -> tuple[str, str, str]:
    return (report.field, repr(report.webcrm_value), repr(report.fortnox_value))


async def plan_run(
    spec: EntitySpec,
    state: StateStore,
    sources: Mapping[System, RecordSource],
    mode: Mode = Mode.INCREMENTAL,
    *,
    retry: Sequence[RecordError] = (),
) -> Plan:
    """Compute every action of a run without writing anything.

    Args:
        spec: fields, rules and match keys of the entity.
        state: the tenant's state store (only read).
        sources: the entity's record source per system.
        mode: incremental (from the cursors; a side without one is read in full, and a first
            run matches before creating), full reconciliation, or retry.
        retry: in retry mode, the errors whose records to look at again.

    Returns:
        The plan, including the cursors to store once it is applied.
    """
    planner = _Planner(spec, state, sources, mode)
    return await planner.run(retry)
