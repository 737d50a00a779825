"""Everything a run decides from, read before anything is decided.

A :class:`Snapshot` holds what the change reads listed (or, in a retry, the records with open
errors), the tenant's links with their bases, its open conflicts and errors, the creates whose
outcome is unknown, the match decisions, and the records read by id because a decision needs
them (the partner of a changed linked record, the record a pending create was made from, a
record an unlinked one names by its key or a person paired it with). :func:`read_snapshot` does
every read; :func:`~webcrm_fortnox.engine.decide.decide` then works from the snapshot alone.

Which records to read by id follows from what the change reads listed, with the same tests the
decisions use (:meth:`Snapshot.in_step`, :meth:`Snapshot.seen_before`), so a run reads what it
needs and nothing more: an idle run reads no record by id.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property

from webcrm_fortnox.engine.ports import (
    SYSTEMS,
    ConflictReport,
    EntitySpec,
    Intent,
    Link,
    MatchDecision,
    MatchVerdict,
    RecordError,
    RecordSource,
    SourceRecord,
    StateStore,
    System,
    id_order,
    other_system,
)

#: How a conflict is recognised as one already recorded: its field and both sides' values.
ConflictKey = tuple[str, str, str]


def conflict_key(report: ConflictReport) -> ConflictKey:
    """The key under which ``report`` is the same conflict as one recorded before."""
    return (report.field, repr(report.webcrm_value), repr(report.fortnox_value))


class Mode(StrEnum):
    """How a run finds the records to look at."""

    #: records changed since the cursors (a full read for a side without a cursor yet)
    INCREMENTAL = "incremental"
    #: every record on both sides: repairs drift and links or creates what is missing
    FULL = "full"
    #: only records with open errors
    RETRY = "retry"


def _by_system() -> dict[System, dict[str, SourceRecord]]:
    return {s: {} for s in SYSTEMS}


def _none_deleted() -> dict[System, frozenset[str]]:
    return {s: frozenset() for s in SYSTEMS}


def _fetched() -> dict[System, dict[str, SourceRecord | None]]:
    return {s: {} for s in SYSTEMS}


@dataclass(frozen=True)
class Snapshot:
    """What one run of one entity read.

    Attributes:
        mode: how the records were found.
        full: whether both sides were read in full (a record not listed does not exist).
        read: per system, the records the change read listed (retry: those with errors).
        deleted: per system, the ids the change read reported deleted, or a retry found gone.
        links: every link of the entity.
        open_conflicts: per link id, the open conflicts (by :func:`conflict_key`).
        errors: the open errors, by the system and id of their record.
        intents: the creates whose outcome is not known yet.
        decisions: the match decisions recorded.
        fetched: per system, the records read by id because a decision needs them (``None``:
            the record does not exist).
        cursors: per system, the cursor to store once the plan is applied (absent: leave it).
    """

    mode: Mode
    full: bool = False
    read: Mapping[System, Mapping[str, SourceRecord]] = field(default_factory=_by_system)
    deleted: Mapping[System, frozenset[str]] = field(default_factory=_none_deleted)
    links: Sequence[Link] = ()
    open_conflicts: Mapping[int, frozenset[ConflictKey]] = field(default_factory=dict)
    errors: Mapping[tuple[System, str], RecordError] = field(default_factory=dict)
    intents: Sequence[Intent] = ()
    decisions: Sequence[MatchDecision] = ()
    fetched: Mapping[System, Mapping[str, SourceRecord | None]] = field(default_factory=_fetched)
    cursors: Mapping[System, str | None] = field(default_factory=dict)

    @cached_property
    def links_by(self) -> Mapping[System, Mapping[str, Link]]:
        """Per system, the link holding each record id."""
        return {s: {link.id_on(s): link for link in self.links} for s in SYSTEMS}

    def fetched_record(self, system: System, record_id: str) -> SourceRecord | None:
        """A record read by id (``None``: it does not exist).

        Raises:
            LookupError: it was not read; the reads and the decisions disagree on what a
                decision needs.
        """
        try:
            return self.fetched[system][record_id]
        except KeyError:
            raise LookupError(f"{system} record {record_id} was not read before deciding") from None

    def has_error(self, system: System, record_id: str) -> bool:
        """Whether the record has an open error."""
        return (system, record_id) in self.errors

    def touched(self) -> Iterator[Link]:
        """The links the run looks at, in order: every link after a full read, then the links
        of the records read or deleted (a link may come more than once)."""
        if self.full:
            yield from self.links
        for system in SYSTEMS:
            for record_id in [*self.read[system], *sorted(self.deleted[system])]:
                linked = self.links_by[system].get(record_id)
                if linked is not None:
                    yield linked

    def in_step(self, spec: EntitySpec, link: Link) -> bool:
        """Whether both records of ``link`` held its base after the last sync, and a record
        not listed by its change read this run still does.

        Not when the pair is held (its webCRM record is not eligible), has an open conflict
        (each side kept its own value) or an open error (a write may have failed half way), nor
        when the base lacks a field the record read carries: the base holds only what both sides
        agreed on, and a field left out of it (two different blanks, say) is not known there.
        """
        if not (
            spec.unlisted_partner_is_base
            and self.mode is Mode.INCREMENTAL
            and not link.held
            and link.id not in self.open_conflicts
            and not any(self.has_error(s, link.id_on(s)) for s in SYSTEMS)
        ):
            return False
        for system in SYSTEMS:
            read = self.read[system].get(link.id_on(system))
            if read is not None and any(
                name in spec.rules and name not in link.base for name in read.fields
            ):
                return False
        return True

    def seen_before(self, spec: EntitySpec, link: Link) -> bool:
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
            link.id_on(s) in self.deleted[s] or self.has_error(s, link.id_on(s)) for s in SYSTEMS
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
            if name in spec.rules
        )

    def unread_partners(self, spec: EntitySpec, link: Link) -> list[tuple[System, str]]:
        """The records of ``link`` a decision on it reads by id: those neither listed nor
        reported deleted, unless a full read says they are gone or the pair is taken to be in
        step (or seen before) without them."""
        if self.full or self.seen_before(spec, link) or self.in_step(spec, link):
            return []
        return [
            (s, link.id_on(s))
            for s in SYSTEMS
            if link.id_on(s) not in self.read[s] and link.id_on(s) not in self.deleted[s]
        ]

    def to_read(self, spec: EntitySpec) -> list[tuple[System, str]]:
        """Every record a decision reads by id, in the order the decisions need them.

        After a full read there is none: a record that was not listed does not exist.
        """
        if self.full:
            return []
        # An ordered set: a record wanted twice is read once.
        wanted: dict[tuple[System, str], None] = {}
        paired: dict[System, set[str]] = {s: set() for s in SYSTEMS}
        for link in self.touched():
            if any(link.id_on(s) in paired[s] for s in SYSTEMS):
                continue
            for system in SYSTEMS:
                paired[system].add(link.id_on(system))
            wanted.update(dict.fromkeys(self.unread_partners(spec, link)))
        # The record an unresolved create was made from.
        resolving: dict[System, set[str]] = {s: set() for s in SYSTEMS}
        for intent in self.intents:
            source = other_system(intent.target)
            if intent.source_id in paired[source] or intent.source_id in resolving[source]:
                continue
            resolving[source].add(intent.source_id)
            if intent.source_id not in self.read[source] and (
                intent.source_id not in self.deleted[source]
            ):
                wanted[source, intent.source_id] = None
            for record in self.read[intent.target].values():
                if record.key == intent.key and record.id not in self.links_by[intent.target]:
                    resolving[intent.target].add(record.id)
        rest = {
            s: {
                i: r
                for i, r in self.read[s].items()
                if i not in paired[s] and i not in resolving[s] and i not in self.links_by[s]
            }
            for s in SYSTEMS
        }
        # The partner an unlinked record names by its key, as decide pairs them: in order, a
        # record whose partner was read taking it from any later one carrying the same key.
        claimed: set[tuple[System, str]] = set()
        for system in SYSTEMS:
            partner_system = other_system(system)
            for record in sorted(rest[system].values(), key=lambda r: id_order(r.id)):
                key = record.key
                if key is None or record.id not in rest[system]:
                    continue
                if (partner_system, key) in claimed or key in self.links_by[partner_system]:
                    rest[system].pop(record.id)  # held for review
                elif key in rest[partner_system]:
                    rest[system].pop(record.id)
                    rest[partner_system].pop(key)
                    claimed.add((partner_system, key))
                else:
                    wanted[partner_system, key] = None
        # The partner a person paired an unlinked record with.
        for decision in self.decisions:
            if decision.verdict is not MatchVerdict.ACCEPTED:
                continue
            ids: dict[System, str] = {"webcrm": decision.webcrm_id, "fortnox": decision.fortnox_id}
            for system in SYSTEMS:
                partner_system = other_system(system)
                partner_id = ids[partner_system]
                if ids[system] not in rest[system] or partner_id in self.read[partner_system]:
                    continue
                if partner_id in self.links_by[partner_system]:
                    continue
                if partner_id in paired[partner_system] | resolving[partner_system]:
                    continue
                wanted[partner_system, partner_id] = None
        return list(wanted)


async def read_snapshot(
    spec: EntitySpec,
    state: StateStore,
    sources: Mapping[System, RecordSource],
    mode: Mode = Mode.INCREMENTAL,
    *,
    retry: Sequence[RecordError] = (),
) -> Snapshot:
    """Read everything a run of ``spec``'s entity decides from; writes nothing.

    Args:
        spec: the entity's rules (which fields a base must hold for a record to be in step).
        state: the tenant's state store.
        sources: the entity's record source per system.
        mode: incremental (from the cursors; a side without one is read in full), full, or
            retry.
        retry: in retry mode, the errors whose records to read again.
    """
    entity = spec.entity
    read = _by_system()
    deleted: dict[System, set[str]] = {s: set() for s in SYSTEMS}
    cursors: dict[System, str | None] = {}
    full = False
    if mode is Mode.RETRY:
        for error in retry:
            record = await sources[error.system].get(error.record_id)
            if record is None:
                deleted[error.system].add(error.record_id)
            else:
                read[error.system][record.id] = record
    else:
        stored = {s: await state.cursor(s, entity) for s in SYSTEMS}
        full = mode is Mode.FULL or any(c is None for c in stored.values())
        for system in SYSTEMS:
            batch = await sources[system].changes(None if full else stored[system])
            for record in batch.records:
                read[system][record.id] = record
            deleted[system].update(batch.deleted)
            cursors[system] = batch.next_cursor
    open_conflicts: dict[int, set[ConflictKey]] = {}
    for conflict in await state.conflicts(entity, open_only=True):
        open_conflicts.setdefault(conflict.link_id, set()).add(conflict_key(conflict.report))
    snapshot = Snapshot(
        mode=mode,
        full=full,
        read=read,
        deleted={s: frozenset(ids) for s, ids in deleted.items()},
        links=await state.links(entity),
        open_conflicts={link: frozenset(keys) for link, keys in open_conflicts.items()},
        errors={(e.system, e.record_id): e for e in await state.open_errors(entity)},
        intents=await state.pending_intents(entity),
        decisions=await state.match_decisions(entity),
        cursors=cursors,
    )
    fetched = _fetched()
    for system, record_id in snapshot.to_read(spec):
        fetched[system][record_id] = await sources[system].get(record_id)
    return replace(snapshot, fetched=fetched)
