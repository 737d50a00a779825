"""The steps of a plan: one small class per kind, each knowing how to apply itself.

:func:`~webcrm_fortnox.engine.decide.decide` makes them; ``plan`` shows them (every action
carries what it shows: its ids, the field changes, the conflicts, a reason and a key); the
:class:`~webcrm_fortnox.engine.apply.Applier` applies them, each through its own
:meth:`Action.apply`, and turns what fails into a per-record error. An action names its two sides
only as :data:`~webcrm_fortnox.engine.ports.SYSTEMS` does: nothing here treats one system
differently from the other.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from webcrm_fortnox.engine.merge import FieldChange
from webcrm_fortnox.engine.ports import (
    SYSTEMS,
    ConflictReport,
    ErrorKind,
    ErrorReport,
    Intent,
    IntentState,
    Link,
    MatchVerdict,
    SourceRecord,
    System,
    other_system,
    system_name,
)
from webcrm_fortnox.errors import ApiError, NotFound, TransientError

if TYPE_CHECKING:
    from webcrm_fortnox.engine.apply import Applier


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


class RecordStatus(StrEnum):
    """How one action ended."""

    SYNCED = "synced"  #: created, updated, linked, or its base refreshed
    EXCLUDED = "excluded"  #: not synced by configuration
    UNLINKED = "unlinked"  #: one side is gone; the pair was forgotten, nothing deleted
    CONFLICT = "conflict"  #: waiting for a manual decision on a field
    REVIEW = "review"  #: ambiguous match waiting for a person
    FAILED = "failed"  #: stored as a per-record error, retried later
    #: a change not sent because its target can no longer change (a booked invoice); stored
    #: as an error of kind ``locked``, with the adapter's explanation
    LOCKED = "locked"


#: Outcomes that need a person (a run with any of them exits with status 3).
ATTENTION = frozenset(
    {RecordStatus.FAILED, RecordStatus.REVIEW, RecordStatus.CONFLICT, RecordStatus.LOCKED}
)


@dataclass(frozen=True)
class RecordOutcome:
    """What happened to one action's record(s).

    Attributes:
        action: the action applied.
        status: how it ended.
        webcrm_id: the webCRM record, including one created by this action.
        fortnox_id: the Fortnox record, including one created by this action.
        detail: plain English: why it failed, was excluded or needs review.
        error: the vendor error, when one caused the failure.
    """

    action: Action
    status: RecordStatus
    webcrm_id: str | None
    fortnox_id: str | None
    detail: str | None = None
    error: ApiError | None = None


class WriteFailed(Exception):
    """A request to ``target`` failed; carries the vendor error."""

    def __init__(self, target: System, error: ApiError) -> None:
        super().__init__(str(error))
        self.target = target
        self.error = error


@dataclass(frozen=True, kw_only=True)
class Action(ABC):
    """One step of a plan.

    Attributes:
        entity: e.g. ``"customer"``.
        ids: the records concerned, by system (one, or both of a pair).
        reason: plain English, for skips, exclusions, reviews, unlinks and held fields.
        source: for an action on one record (a create, a lookup, a skip): its system.
        changes: the field writes, each naming its target system.
        conflicts: fields both sides changed differently, with how they were settled.
        key: for a link, the match key (or ``"decision"``, ``"idempotency key"``); for a review
            or a skip, the field concerned.
        records: the records as read, by system (what the action writes from).
    """

    kind: ClassVar[ActionKind]
    #: whether applying it sends a request even when it changes no field (a create, a lookup)
    sends: ClassVar[bool] = False

    entity: str
    ids: Mapping[System, str]
    reason: str | None = None
    source: System | None = None
    changes: tuple[FieldChange, ...] = ()
    conflicts: tuple[ConflictReport, ...] = ()
    key: str | None = None
    records: Mapping[System, SourceRecord] = field(default_factory=dict, repr=False)

    @property
    def webcrm_id(self) -> str | None:
        """The webCRM record concerned, if any."""
        return self.ids.get("webcrm")

    @property
    def fortnox_id(self) -> str | None:
        """The Fortnox record concerned, if any."""
        return self.ids.get("fortnox")

    def id_on(self, system: System) -> str | None:
        """The record id of this action on ``system``."""
        return self.ids.get(system)

    @property
    def name(self) -> str | None:
        """The record's name (the first system's that has one), when it has one."""
        for system in SYSTEMS:
            record = self.records.get(system)
            if record is not None and record.fields.get("name"):
                return str(record.fields["name"])
        return None

    @property
    def writes(self) -> bool:
        """Whether applying it writes to a system (as opposed to the state store only)."""
        return bool(self.changes) or self.sends

    @abstractmethod
    async def apply(self, run: Applier) -> RecordOutcome:
        """Carry the action out.

        Raises:
            WriteFailed: a request to a system failed (the applier stores it as the record's
                error, see :meth:`write_failed`).
            AuthError, PermissionDenied: the run must stop.
        """

    async def write_failed(self, run: Applier, failed: WriteFailed) -> RecordOutcome:
        """Store a failed request as the error of the record it was sent for."""
        return await run.failed(self, other_system(failed.target), failed.error)


@dataclass(frozen=True, kw_only=True)
class Create(Action):
    """Create a record without a partner on the other side, then link the two.

    Attributes:
        source: where the record lives.
        base: the fields sent (the pair's base once created).
        lookup_first: look for a record made from this one first (the other side was not read
            in full this run).
    """

    kind = ActionKind.CREATE
    sends = True

    source: System
    base: Mapping[str, Any] = field(default_factory=dict, repr=False)
    lookup_first: bool = field(default=False, repr=False)

    async def apply(self, run: Applier) -> RecordOutcome:
        target = other_system(self.source)
        record = self.records[self.source]
        if self.lookup_first:
            try:
                existing = await run.sources[target].find_by_key(record.id)
            except ApiError as error:
                raise WriteFailed(target, error) from error
            if existing is not None:
                return await run.adopt(self, self.source, record, existing, None, None)
        intent = await run.state.add_intent(self.entity, target, record.id, record.id, self.base)
        try:
            created = await run.sources[target].create(self.base, record.id)
        except ApiError as error:
            if not isinstance(error, TransientError) or error.not_sent:
                # Refused, or never arrived: nothing was created, nothing to look up later.
                await run.state.finish_intent(intent.id, IntentState.FAILED)
            raise WriteFailed(target, error) from error
        return await run.adopt(self, self.source, record, created, self.base, intent.id, queue=True)


@dataclass(frozen=True, kw_only=True)
class Resolve(Action):
    """Look up a create of an earlier run that has no known outcome, then finish it.

    Attributes:
        source: where the record it was made from lives (``records`` holds it, unless it is
            gone).
        intent: the journalled create.
    """

    kind = ActionKind.RESOLVE
    sends = True

    source: System
    intent: Intent = field(repr=False)

    async def apply(self, run: Applier) -> RecordOutcome:
        intent = self.intent
        record = self.records.get(self.source)
        try:
            found = await run.sources[intent.target].find_by_key(intent.key)
        except ApiError as error:
            raise WriteFailed(intent.target, error) from error
        if found is None and run.now() - intent.created_at < run.create_settle:
            return await self._still_settling(run)
        if found is None:
            # The earlier create never happened: it may be sent now, as a fresh intent.
            await run.state.finish_intent(intent.id, IntentState.FAILED)
            if record is None:
                return run.outcome(self, RecordStatus.UNLINKED, "its source record is gone")
            outcome = await run.apply(run.one_sided(self.source, record, lookup_first=False))
            return replace(outcome, action=self)
        if record is None:
            await run.state.finish_intent(intent.id, IntentState.DONE)
            detail = f"created earlier as {found.id}, but its source record is gone: not linked"
            return run.outcome(self, RecordStatus.UNLINKED, detail)
        # A create cut short (the process killed between a delivery and its lines) left the
        # record without part of what was sent: finish it, rather than take the gaps for edits
        # made there and carry them back. Only empty fields or the first of the lines: another
        # value there is a person's edit made since, and is merged like any other.
        finishing = [
            FieldChange(intent.target, name, found.fields[name], value)
            for name, value in intent.payload.items()
            if name in found.fields and cut_short(found.fields[name], value)
        ]
        return await run.adopt(
            self, self.source, record, found, intent.payload, intent.id, finishing=finishing
        )

    async def _still_settling(self, run: Applier) -> RecordOutcome:
        """A create that got no answer a moment ago is not found yet: it may still be under way
        at the vendor (a request whose answer was lost can be carried out later), so nothing is
        sent again until it has had time to land; it stays pending and is looked up next run."""
        intent = self.intent
        after = (intent.created_at + run.create_settle).astimezone(UTC)
        reason = (
            f"an earlier create in {system_name(intent.target)} got no answer and is not found "
            f"yet; it may still be under way there, so it is looked up again, and sent only if "
            f"it never arrived, from {after:%Y-%m-%d %H:%M} UTC on"
        )
        await run.state.record_error(
            ErrorReport(
                self.entity,
                self.source,
                intent.source_id,
                reason,
                kind=ErrorKind.FAILURE,
                name=self.name,
            )
        )
        return run.outcome(self, RecordStatus.FAILED, reason)


@dataclass(frozen=True, kw_only=True)
class LinkPair(Action):
    """Pair two existing records (matched, or found by an idempotency key), writing what differs.

    Attributes:
        key: the match key, ``"decision"`` (a person's) or ``"idempotency key"``.
        base: the base to store once the changes are written.
        held: linked without writing anything (the record that decides is not eligible): the
            pair is remembered, so neither record is created on the other side as a duplicate,
            and syncs once it is eligible.
    """

    kind = ActionKind.LINK

    key: str
    base: Mapping[str, Any] = field(default_factory=dict, repr=False)
    held: bool = field(default=False, repr=False)

    async def apply(self, run: Applier) -> RecordOutcome:
        if self.key != "decision":
            # An automatic pairing is recorded like a person's, for the match review.
            await run.state.save_match_decision(
                self.entity,
                self.ids["webcrm"],
                self.ids["fortnox"],
                MatchVerdict.ACCEPTED,
                self.key,
            )
        await run.settle(
            self.records, self.changes, self.base, None, self.conflicts, held=self.held
        )
        if self.held:
            return run.outcome(self, RecordStatus.EXCLUDED, self.reason)
        return run.outcome(self, RecordStatus.SYNCED)


@dataclass(frozen=True, kw_only=True)
class _PairWrite(Action):
    """Settle a linked pair: write what the merge found to either side, then store the base.

    Attributes:
        link: the pair.
        base: the base to store once the changes are written.
    """

    link: Link = field(repr=False)
    base: Mapping[str, Any] = field(default_factory=dict, repr=False)

    async def apply(self, run: Applier) -> RecordOutcome:
        await run.settle(self.records, self.changes, self.base, self.link.base, self.conflicts)
        # A manual conflict left open (by an update too) waits for a person.
        waiting = any(c.resolution is None for c in self.conflicts)
        status = RecordStatus.CONFLICT if waiting else RecordStatus.SYNCED
        return run.outcome(self, status, self.reason)

    async def write_failed(self, run: Applier, failed: WriteFailed) -> RecordOutcome:
        if isinstance(failed.error, NotFound):
            return await run.partner_gone(self, self.link, failed.target)
        return await super().write_failed(run, failed)


@dataclass(frozen=True, kw_only=True)
class Update(_PairWrite):
    """Write changed fields of a linked pair to one or both sides."""

    kind = ActionKind.UPDATE


@dataclass(frozen=True, kw_only=True)
class Refresh(_PairWrite):
    """Both sides already agree: only the stored base (and new conflicts) move."""

    kind = ActionKind.REFRESH


@dataclass(frozen=True, kw_only=True)
class OpenConflict(_PairWrite):
    """Both sides changed a field, and the policy leaves it to a person."""

    kind = ActionKind.CONFLICT


@dataclass(frozen=True, kw_only=True)
class Unlink(Action):
    """One record of a pair (or both) is gone: forget the pair, delete nothing.

    Attributes:
        link: the pair.
    """

    kind = ActionKind.UNLINK

    link: Link = field(repr=False)

    async def apply(self, run: Applier) -> RecordOutcome:
        await run.state.unlink(self.entity, self.link.id)
        return run.outcome(self, RecordStatus.UNLINKED, self.reason)


@dataclass(frozen=True, kw_only=True)
class Exclude(Action):
    """A record not synced by configuration (its Type, or no creates in that direction).

    Attributes:
        clears_errors: the record has open errors that this makes moot.
    """

    kind = ActionKind.EXCLUDE

    clears_errors: bool = field(default=False, repr=False)

    async def apply(self, run: Applier) -> RecordOutcome:
        if self.clears_errors:
            for system, record_id in self.ids.items():
                await run.state.resolve_errors(self.entity, system, record_id)
        return run.outcome(self, RecordStatus.EXCLUDED, self.reason)


@dataclass(frozen=True, kw_only=True)
class Hold(Exclude):
    """A linked pair whose record is no longer eligible: remembered, not synced.

    Attributes:
        link: the pair.
    """

    link: Link = field(repr=False)

    async def apply(self, run: Applier) -> RecordOutcome:
        if not self.link.held:
            await run.state.hold_link(self.entity, self.link.id)
        return await super().apply(run)


@dataclass(frozen=True, kw_only=True)
class _Stored(Action):
    """A record left for a person, stored as its error so that ``errors`` lists it and a partial
    read later neither pairs nor creates what a person has to decide.

    Attributes:
        source: where the record lives.
    """

    error_kind: ClassVar[ErrorKind]
    status: ClassVar[RecordStatus]

    source: System

    async def apply(self, run: Applier) -> RecordOutcome:
        await run.state.record_error(
            ErrorReport(
                self.entity,
                self.source,
                self.ids[self.source],
                self.reason or "",
                self.key,
                kind=self.error_kind,
                name=self.name,
            )
        )
        return run.outcome(self, self.status, self.reason)


@dataclass(frozen=True, kw_only=True)
class Review(_Stored):
    """An ambiguous match, or a record carrying a key already paired: a person decides."""

    kind = ActionKind.REVIEW
    error_kind = ErrorKind.AMBIGUOUS
    status = RecordStatus.REVIEW


@dataclass(frozen=True, kw_only=True)
class Skip(_Stored):
    """A record that cannot be created as it is (``key``: the required field that is empty)."""

    kind = ActionKind.SKIP
    error_kind = ErrorKind.INCOMPLETE
    status = RecordStatus.FAILED


def cut_short(found: Any, sent: Any) -> bool:
    """Whether ``found`` is what is left of ``sent`` when its create stopped part way: nothing,
    or the first of its lines (a JSON list, written one element at a time)."""
    if found == sent:
        return False
    if found is None or found == "":
        return True
    if not (isinstance(found, str) and isinstance(sent, str) and found.startswith("[")):
        return False
    try:
        have, want = json.loads(found), json.loads(sent)
    except ValueError:
        return False
    return isinstance(have, list) and isinstance(want, list) and want[: len(have)] == have
