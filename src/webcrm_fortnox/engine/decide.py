"""Deciding a run: from what was read (a :class:`~webcrm_fortnox.engine.snapshot.Snapshot`) to
the plan, as a pure function.

:func:`decide` reads nothing and writes nothing: given the same snapshot it returns the same plan,
so every decision can be tested as a function of what was read. The plan is a list of actions,
one per record or pair (see :mod:`webcrm_fortnox.engine.actions`), that ``plan`` prints and
``sync`` applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from webcrm_fortnox.engine.actions import (
    Action,
    ActionKind,
    Create,
    Exclude,
    Hold,
    LinkPair,
    OpenConflict,
    Refresh,
    Resolve,
    Review,
    Skip,
    Unlink,
    Update,
)
from webcrm_fortnox.engine.matching import Ambiguity, match_records
from webcrm_fortnox.engine.merge import FieldChange, Merge, merge
from webcrm_fortnox.engine.ports import (
    SYSTEMS,
    EntitySpec,
    ErrorKind,
    Link,
    MatchVerdict,
    SourceRecord,
    System,
    id_order,
    other_system,
    system_name,
)
from webcrm_fortnox.engine.snapshot import Mode, Snapshot, conflict_key


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


def decide(snapshot: Snapshot, spec: EntitySpec) -> Plan:
    """Decide every action of a run from what it read.

    Args:
        snapshot: what the run read (see :func:`~webcrm_fortnox.engine.snapshot.read_snapshot`).
        spec: fields, rules and match keys of the entity.

    Returns:
        The plan, including the cursors to store once it is applied.

    Raises:
        LookupError: a decision needs a record the snapshot did not read.
    """
    return _Decider(snapshot, spec).run()


class _Decider:
    def __init__(self, snapshot: Snapshot, spec: EntitySpec) -> None:
        self.snap = snapshot
        self.spec = spec
        self.plan = Plan(spec.entity, snapshot.mode, cursors=dict(snapshot.cursors))
        self.handled: dict[System, set[str]] = {s: set() for s in SYSTEMS}

    @property
    def entity(self) -> str:
        return self.spec.entity

    def add(self, action: Action) -> None:
        if isinstance(action, Exclude) and any(
            self.snap.has_error(s, i) for s, i in action.ids.items()
        ):
            action = replace(action, clears_errors=True)
        self.plan.actions.append(action)
        for system, record_id in action.ids.items():
            self.handled[system].add(record_id)

    def run(self) -> Plan:
        for link in self.snap.touched():
            self._pair(link)
        self._resolve_intents()
        self._unlinked()
        return self.plan

    def _record(
        self, system: System, record_id: str, link: Link | None = None
    ) -> SourceRecord | None:
        """A record as it is now: as listed this run, else as read by id for this decision.

        The partner (on ``link``) of a record that was read is taken from the link's base when
        the pair is in step (see :meth:`Snapshot.in_step`): it is as the last sync left it.
        """
        snap = self.snap
        if record_id in snap.deleted[system]:
            return None
        record = snap.read[system].get(record_id)
        if record is None and not snap.full:
            if link is not None and snap.in_step(self.spec, link):
                return SourceRecord(id=record_id, fields=dict(link.base))
            # After a full read, a record that was not listed does not exist.
            return snap.fetched_record(system, record_id)
        return record

    def _pair(self, link: Link) -> None:
        if any(link.id_on(s) in self.handled[s] for s in SYSTEMS):
            return
        if self.snap.seen_before(self.spec, link):
            for system in SYSTEMS:
                self.handled[system].add(link.id_on(system))
            return
        found = {s: self._record(s, link.id_on(s), link) for s in SYSTEMS}
        ids = {s: link.id_on(s) for s in SYSTEMS}
        records = {s: r for s, r in found.items() if r is not None}
        if len(records) < len(SYSTEMS):
            if not records:
                reason = "both records are gone"
            else:
                (kept,) = records
                gone = other_system(kept)
                reason = (
                    f"the {system_name(gone)} record is gone; the {system_name(kept)} one is kept"
                )
            self.add(Unlink(entity=self.entity, ids=ids, reason=reason, link=link))
            for kept, survivor in records.items():
                # Deletions do not propagate: the survivor is a record without a partner, and
                # like any other one it is created on the other side (when it is eligible).
                self._one_sided(kept, survivor)
            return
        holder = records[self.spec.held_by]
        if not holder.eligible:
            reason = holder.excluded_reason or "not eligible for sync"
            self.add(Hold(entity=self.entity, ids=ids, reason=reason, link=link))
            return
        result = merge(self.spec.rules, link.base, records["webcrm"], records["fortnox"])
        known = self.snap.open_conflicts.get(link.id, frozenset())
        fresh = tuple(c for c in result.conflicts if conflict_key(c) not in known)
        changes = _changes(result)
        kind: type[Update | Refresh | OpenConflict]
        if changes:
            kind = Update
        elif any(c.resolution is None for c in fresh):
            kind = OpenConflict
        elif dict(result.base) != dict(link.base) or fresh or link.held:
            # (a held pair whose webCRM record is eligible again is saved, no longer held)
            kind = Refresh
        else:
            for system in SYSTEMS:
                self.handled[system].add(link.id_on(system))
            return  # in step: nothing to do, nothing to show
        self.add(
            kind(
                entity=self.entity,
                ids=ids,
                changes=changes,
                conflicts=fresh,
                reason=_held(result),
                records=records,
                link=link,
                base=result.base,
            )
        )

    def _resolve_intents(self) -> None:
        for intent in self.snap.intents:
            source = other_system(intent.target)
            if intent.source_id in self.handled[source]:
                continue
            record = self._record(source, intent.source_id)
            # The record it may have created is settled by the same lookup, not on its own.
            for created in self.snap.read[intent.target].values():
                if (
                    created.key == intent.key
                    and created.id not in self.snap.links_by[intent.target]
                ):
                    self.handled[intent.target].add(created.id)
            self.add(
                Resolve(
                    entity=self.entity,
                    ids={source: intent.source_id},
                    source=source,
                    reason="an earlier create has no known outcome; it is looked up first",
                    records={} if record is None else {source: record},
                    intent=intent,
                )
            )

    def _unlinked(self) -> None:
        snap = self.snap
        rest: dict[System, dict[str, SourceRecord]] = {
            s: {
                i: r
                for i, r in snap.read[s].items()
                if i not in self.handled[s] and i not in snap.links_by[s]
            }
            for s in SYSTEMS
        }
        self._link_by_keys(rest)
        if not snap.full:
            self._add_decided_partners(rest)
            self._still_ambiguous(rest)
        # In an incremental run only the records read are compared: a pair created on both
        # sides since the last run is linked rather than created twice.
        matched = match_records(
            self.spec.match_keys, rest["webcrm"].values(), rest["fortnox"].values(), snap.decisions
        )
        for pair in matched.pairs:
            self._link({"webcrm": pair.webcrm, "fortnox": pair.fortnox}, pair.key)
        self.plan.ambiguous += matched.ambiguous
        for ambiguity in matched.ambiguous:
            candidates: dict[System, tuple[SourceRecord, ...]] = {
                "webcrm": ambiguity.webcrm,
                "fortnox": ambiguity.fortnox,
            }
            for system in SYSTEMS:
                partner_system = other_system(system)
                others = ", ".join(r.id for r in candidates[partner_system])
                reason = (
                    f"same {ambiguity.key} as {system_name(partner_system)} "
                    f"record(s) {others}: decide with `match`"
                )
                for record in candidates[system]:
                    self._review(system, record, reason, ambiguity.key)
        singles: dict[System, list[SourceRecord]] = {
            "webcrm": matched.webcrm_only,
            "fortnox": matched.fortnox_only,
        }
        for system in SYSTEMS:
            for record in singles[system]:
                self._one_sided(system, record)

    def _link_by_keys(self, rest: dict[System, dict[str, SourceRecord]]) -> None:
        """Link the records that carry the other's id as their key: one was created from the
        other, they belong together.

        Partners linked by their key in this run are remembered with the record they went to:
        a second record carrying the same key is a copy, like one carrying the key of an older
        link.
        """
        snap = self.snap
        claimed: dict[System, dict[str, SourceRecord]] = {s: {} for s in SYSTEMS}
        for system in SYSTEMS:
            partner_system = other_system(system)
            for record in sorted(rest[system].values(), key=lambda r: id_order(r.id)):
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
                if key in snap.links_by[partner_system]:
                    # Made from a record that is paired with another: a copy, never created back.
                    rest[system].pop(record.id)
                    other = snap.links_by[partner_system][key].id_on(system)
                    reason = (
                        f"created from {system_name(partner_system)} record {key}, which is "
                        f"linked to {other}: decide with `match`"
                    )
                    self._review(system, record, reason, "idempotency key")
                    continue
                partner = rest[partner_system].get(key)
                if partner is None and not snap.full:
                    partner = snap.fetched[partner_system].get(key)
                if partner is None:
                    continue
                rest[system].pop(record.id)
                rest[partner_system].pop(partner.id, None)
                claimed[partner_system][partner.id] = record
                self._link({system: record, partner_system: partner}, "idempotency key")

    def _add_decided_partners(self, rest: dict[System, dict[str, SourceRecord]]) -> None:
        """Add the partner of an unlinked record a person paired, when it was not listed."""
        snap = self.snap
        for decision in snap.decisions:
            if decision.verdict is not MatchVerdict.ACCEPTED:
                continue
            ids: dict[System, str] = {"webcrm": decision.webcrm_id, "fortnox": decision.fortnox_id}
            for system in SYSTEMS:
                partner_system = other_system(system)
                partner_id = ids[partner_system]
                if ids[system] not in rest[system] or partner_id in rest[partner_system]:
                    continue
                if partner_id in snap.links_by[partner_system]:
                    continue
                if partner_id in self.handled[partner_system]:
                    continue
                partner = snap.fetched[partner_system].get(partner_id)
                if partner is not None:
                    rest[partner_system][partner_id] = partner

    def _still_ambiguous(self, rest: dict[System, dict[str, SourceRecord]]) -> None:
        """Keep records found ambiguous by a full read out of a partial read's matching.

        A partial read may hold only one of the candidates and would pair it by mistake; until
        a person decides (or a full run finds them unambiguous), they stay under review.
        """
        decided = {
            pair
            for d in self.snap.decisions
            if d.verdict is MatchVerdict.ACCEPTED
            for pair in (("webcrm", d.webcrm_id), ("fortnox", d.fortnox_id))
        }
        for system in SYSTEMS:
            for record in list(rest[system].values()):
                error = self.snap.errors.get((system, record.id))
                if error is None or error.kind is not ErrorKind.AMBIGUOUS:
                    continue
                if (system, record.id) in decided:
                    continue
                del rest[system][record.id]
                self._review(system, record, error.reason, error.field)

    def _one_sided(self, system: System, record: SourceRecord) -> None:
        # Unless the other side was read in full, a record made from this one may exist there.
        self.add(one_sided_action(self.spec, system, record, lookup_first=not self.snap.full))

    def _review(self, system: System, record: SourceRecord, reason: str, key: str | None) -> None:
        """Hold ``record`` for a person to decide with ``match``."""
        self.add(
            Review(
                entity=self.entity,
                ids={system: record.id},
                source=system,
                reason=reason,
                key=key,
                records={system: record},
            )
        )

    def _link(self, records: Mapping[System, SourceRecord], key: str) -> None:
        ids = {s: records[s].id for s in SYSTEMS}
        holder = records[self.spec.held_by]
        if not holder.eligible:
            # Linked without writing anything: the pair is remembered (so the other record is
            # not created back as a duplicate) and syncs once it is eligible.
            partner_system = other_system(self.spec.held_by)
            reason = (
                f"{holder.excluded_reason or 'not eligible for sync'}; linked to "
                f"{system_name(partner_system)} record {ids[partner_system]} by {key}, not "
                "synced until it is eligible"
            )
            self.add(
                LinkPair(
                    entity=self.entity, ids=ids, reason=reason, key=key, records=records, held=True
                )
            )
            return
        result = merge(self.spec.rules, None, records["webcrm"], records["fortnox"])
        self.add(
            LinkPair(
                entity=self.entity,
                ids=ids,
                changes=_changes(result),
                conflicts=tuple(result.conflicts),
                reason=_held(result),
                key=key,
                records=records,
                base=result.base,
            )
        )


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
    ids = {system: record.id}
    reason: str | None = None
    if not record.eligible:
        reason = record.excluded_reason or "not eligible for sync"
    elif target not in spec.create_in:
        reason = f"{spec.entity} records are not created in {system_name(target)}"
    if reason is not None:
        return Exclude(entity=spec.entity, ids=ids, source=system, reason=reason)
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
        return Skip(
            entity=spec.entity,
            ids=ids,
            source=system,
            reason=reason,
            key=missing[0],
            records={system: record},
        )
    payload = _payload(spec, record, target)
    return Create(
        entity=spec.entity,
        ids=ids,
        source=system,
        changes=tuple(FieldChange(target, k, None, v) for k, v in payload.items()),
        records={system: record},
        base=payload,
        lookup_first=lookup_first,
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


def _changes(result: Merge) -> tuple[FieldChange, ...]:
    return tuple(c for system in SYSTEMS for c in result.writes[system].values())


def _held(result: Merge) -> str | None:
    if not result.held:
        return None
    return "; ".join(f"{name}: {why}" for name, why in result.held.items())
