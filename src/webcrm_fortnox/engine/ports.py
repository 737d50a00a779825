"""The ports of the sync engine: what it needs from each system and from the state store.

The engine is entity-agnostic and vendor-agnostic. It sees records of one entity (customers,
later articles and documents) on two systems, ``"webcrm"`` and ``"fortnox"``, as flat mappings of
*canonical* field names to *normalised* values, and only ever compares those values for equality.
Turning a webCRM organisation or a Fortnox customer into such a mapping (and back) is the job of
an adapter implementing :class:`RecordSource`; remembering what was agreed is the job of a
:class:`StateStore`.

Nothing here imports an HTTP or database library: adapters and stores are plugged in from outside.
Adapters signal failures by raising :mod:`webcrm_fortnox.errors` types
(:class:`~webcrm_fortnox.errors.ValidationError` for a rejected record,
:class:`~webcrm_fortnox.errors.TransientError` after the transport gave up retrying,
:class:`~webcrm_fortnox.errors.AuthError` when the credentials no longer work).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

#: A normalised field value. Two values are "the same" exactly when they compare equal, so the
#: domain layer must normalise before handing values over (trimmed strings, ``None`` for blank,
#: one spelling per country/currency code, ``Decimal`` or ``int`` for amounts).
Value = str | int | float | Decimal | bool | None

#: Canonical field name → normalised value.
Fields = Mapping[str, Value]

System = Literal["webcrm", "fortnox"]
SYSTEMS: tuple[System, System] = ("webcrm", "fortnox")


def other_system(system: System) -> System:
    """The system on the other side of ``system``."""
    return "fortnox" if system == "webcrm" else "webcrm"


_NAMES: Mapping[str, str] = {"webcrm": "webCRM", "fortnox": "Fortnox"}


def system_name(system: str) -> str:
    """How people write the system's name (``"webCRM"``, ``"Fortnox"``); another as it is."""
    return _NAMES.get(system, system)


def utcnow() -> datetime:
    """The machine's clock, timezone-aware: the default of every ``now`` a caller can replace."""
    return datetime.now(UTC)


def id_order(record_id: str) -> tuple[int, str]:
    """The order records are handled in, oldest first: numeric ids by value, others after them
    by text."""
    return (int(record_id), "") if record_id.isdigit() else (1 << 62, record_id)


@dataclass(frozen=True)
class SourceRecord:
    """One record as one system shows it, already mapped to canonical fields.

    Attributes:
        id: the record's id on its own system (webCRM ``OrganisationId`` as a string, Fortnox
            ``CustomerNumber``).
        fields: canonical field name → normalised value, for every field the adapter maps (a
            field the system cannot hold is simply absent, and is then never written there).
        modified_at: when the system says the record last changed (webCRM ``*UpdatedAt``), as an
            aware datetime; ``None`` when the system does not say (Fortnox payloads carry no
            timestamp). Only the ``newest`` conflict policy reads it.
        eligible: whether the record takes part in the sync at all (webCRM: its Type is one of
            the configured customer types). An ineligible record is never created on the other
            side, and a linked one stops syncing until it becomes eligible again.
        excluded_reason: why it is ineligible, in plain English (shown to users); ``None`` when
            eligible.
        key: the idempotency key the record carries, if any: the id of the record on the other
            system that it was created from (e.g. the webCRM id kept in a Fortnox field). This is
            what :meth:`RecordSource.find_by_key` searches.
    """

    id: str
    fields: Fields
    modified_at: datetime | None = None
    eligible: bool = True
    excluded_reason: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class ChangeBatch:
    """What :meth:`RecordSource.changes` found.

    Attributes:
        records: records changed since the cursor (and, through the overlap window, possibly some
            that were already seen: the engine drops those whose fields equal the base).
        next_cursor: the cursor to pass next time. It must not lie after the moment this read
            started (less the adapter's overlap window), so that a change made while reading is
            found again next time. The engine stores it only once every record of this batch has
            been handled.
        deleted: ids the system reports as deleted, when it can tell (e.g. a change feed); a
            system that cannot tell leaves it empty and the engine notices deletions by
            :meth:`RecordSource.get` returning ``None``.
    """

    records: Sequence[SourceRecord]
    next_cursor: str | None
    deleted: Sequence[str] = ()


@runtime_checkable
class RecordSource(Protocol):
    """One entity on one system, as the engine reads and writes it.

    Every method raises :mod:`webcrm_fortnox.errors` types on failure; the adapter must
    not swallow them. Transient failures have already been retried by the transport when they
    reach the engine.
    """

    #: ``"webcrm"`` or ``"fortnox"``.
    system: System
    #: The entity, e.g. ``"customer"``; the same on both sources of one sync.
    entity: str

    async def changes(self, cursor: str | None) -> ChangeBatch:
        """Records changed since ``cursor``.

        Args:
            cursor: an opaque value from an earlier :attr:`ChangeBatch.next_cursor`, or ``None``
                when there is none yet, in which case *every* record is returned (that is also how
                the engine runs a full reconciliation).

        Returns:
            The changed records (eligible or not, so that the engine can notice a linked record
            becoming ineligible) and the cursor for next time. The adapter re-reads an overlap
            window before the cursor (Fortnox ``lastmodified`` has minute precision in Swedish
            local time); duplicates and already-seen records are fine.
        """
        ...

    def all(self) -> AsyncIterator[SourceRecord]:
        """Every record, eligible or not, one at a time (used for matching)."""
        ...

    async def get(self, id: str) -> SourceRecord | None:
        """The record with this id as it is now, or ``None`` when it does not exist (deleted)."""
        ...

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        """Create a record and return it as stored.

        Args:
            fields: the canonical fields to write; a field the system cannot hold is ignored.
                The adapter adds what its system needs beyond them (e.g. the configured webCRM
                Type for organisations created from Fortnox).
            idempotency_key: the source record's id on the other system. The adapter writes it
                into the new record (a Fortnox field, a webCRM custom field) so that
                :meth:`find_by_key` finds it after a timeout or crash; the returned record's
                :attr:`SourceRecord.key` is this value.

        Raises:
            ValidationError: the system rejected the content (with vendor code, message, field).
            TransientError: no reliable answer; ``not_sent`` tells whether it surely never arrived.
        """
        ...

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        """Write ``changes`` (only the fields that differ) to record ``id``; return it as stored.

        Args:
            id: the record to change.
            changes: canonical field → new value; fields not named must stay as they are.
            current: the record as the engine last read it, so an adapter whose system needs the
                whole object (webCRM PUT) does not have to read it again.

        Raises:
            NotFound: the record no longer exists.
            ValidationError: the system rejected the content.
        """
        ...

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        """The record created with this idempotency key, or ``None`` when there is none."""
        ...


# --- what the engine is told to do -------------------------------------------------------------


class Direction(StrEnum):
    """Which way a field flows."""

    BOTH = "both"
    TO_FORTNOX = "webcrm->fortnox"
    TO_WEBCRM = "fortnox->webcrm"

    def writes_to(self, system: System) -> bool:
        """Whether this direction may write the field on ``system``."""
        if self is Direction.BOTH:
            return True
        return (self is Direction.TO_FORTNOX) == (system == "fortnox")


class Policy(StrEnum):
    """Who wins when both sides changed a field to different values since the last sync."""

    WEBCRM = "webcrm"
    FORTNOX = "fortnox"
    #: the side whose record has the later ``modified_at``; a side without a timestamp counts as
    #: older than one with a timestamp, and when neither has one Fortnox (the books) wins.
    NEWEST = "newest"
    #: nobody: both sides keep their value, the conflict stays open until a person resolves it.
    MANUAL = "manual"


@dataclass(frozen=True)
class FieldRule:
    """How one canonical field syncs.

    Attributes:
        direction: which way it may flow.
        policy: who wins a two-sided change.
        blank_overwrites: whether a blank (``None``) may replace a value on the other side; by
            default a blank never overwrites a value.
    """

    direction: Direction = Direction.BOTH
    policy: Policy = Policy.FORTNOX
    blank_overwrites: bool = False


@dataclass(frozen=True)
class MatchKey:
    """One way of recognising the same record on both sides before the first sync.

    A record's key value is the tuple of its normalised values of ``fields``; a record missing any
    of them (``None`` or absent) has no value for this key and is not matched by it.

    Attributes:
        name: shown to users, e.g. ``"organisation number"``.
        fields: canonical field names, e.g. ``("name", "postcode")``.
    """

    name: str
    fields: tuple[str, ...]

    def value(self, record: SourceRecord) -> tuple[Value, ...] | None:
        """The key value of ``record``, or ``None`` when it lacks one of the fields."""
        values = tuple(record.fields.get(name) for name in self.fields)
        if any(v is None or v == "" for v in values):
            return None
        return values


@dataclass(frozen=True)
class EntitySpec:
    """Everything the engine needs to know about one entity, as plain data.

    Attributes:
        entity: e.g. ``"customer"``.
        rules: canonical field → how it syncs. Only fields named here are compared and written.
        match_keys: tried in order when pairing existing records.
        create_in: systems where records from the other side may be created (e.g. articles are
            only created in webCRM).
        required_for_create: per target system, canonical fields without which a record is not
            created there (reported instead), e.g. ``{"fortnox": ("customer_number",)}`` when
            webCRM owns customer numbers.
        unlisted_partner_is_base: whether, in an incremental run, a linked record that its
            system's change read did not list may be taken to be as the last sync left it (its
            link's base) instead of being read. True only when the change reads list every
            change that matters to the pair, eligibility included: so for customers (webCRM
            lists a Type change as an update), not for documents (a delivery's eligibility
            follows its organisation's Type, which the deliveries' read does not list).
        held_by: the system whose record decides whether a linked pair syncs: while that record
            is not eligible (a webCRM Type outside the customer types), the pair is held.
    """

    entity: str
    rules: Mapping[str, FieldRule]
    match_keys: Sequence[MatchKey] = ()
    create_in: frozenset[System] = frozenset(SYSTEMS)
    required_for_create: Mapping[System, tuple[str, ...]] = field(default_factory=dict)
    unlisted_partner_is_base: bool = False
    held_by: System = "webcrm"


# --- the state store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A pair of records known to be the same, with the base both agreed on."""

    id: int
    entity: str
    webcrm_id: str
    fortnox_id: str
    #: canonical field → the value both sides had after the last successful sync of this pair.
    base: Mapping[str, Any]
    updated_at: datetime
    #: its webCRM record is not eligible (e.g. its Type left the customer types): the pair is
    #: remembered but does not sync, and its records are always read, never taken as the base
    held: bool = False

    def id_on(self, system: System) -> str:
        """The record id of this pair on ``system``."""
        return self.webcrm_id if system == "webcrm" else self.fortnox_id


class IntentState(StrEnum):
    """Where a journalled create stands."""

    PENDING = "pending"  #: committed before sending; outcome unknown until resolved
    DONE = "done"  #: the record exists on the target and is linked
    FAILED = "failed"  #: the target refused it; nothing was created


@dataclass(frozen=True)
class Intent:
    """A create recorded before it is sent, so a crash or timeout never leads to a duplicate."""

    id: int
    entity: str
    target: System
    #: the source record's id; also written into the created record (see ``find_by_key``).
    key: str
    source_id: str
    payload: Mapping[str, Any]
    state: IntentState
    created_at: datetime


class ErrorState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ErrorKind(StrEnum):
    """Why a record is not synced."""

    #: a system refused it, or gave no reliable answer
    FAILURE = "failure"
    #: it cannot be sent as it is (e.g. a required field is empty)
    INCOMPLETE = "incomplete"
    #: it matches several records on the other side: a person decides with ``match``; until
    #: then it is neither matched again by a partial read nor created
    AMBIGUOUS = "ambiguous"
    #: its partner can no longer change (a booked invoice): the change was not sent and stays
    LOCKED = "locked"


@dataclass(frozen=True)
class RecordError:
    """A record whose change could not be applied, kept until it syncs.

    ``system`` and ``record_id`` name the *source* record (the one whose change or creation
    failed, i.e. what a retry reads again); the vendor code and message are those of the system
    that refused it, which ``reason`` names.
    """

    id: int
    entity: str
    system: System
    record_id: str
    field: str | None
    vendor_code: str | None
    vendor_message: str | None
    reason: str
    attempts: int
    first_seen: datetime
    last_seen: datetime
    state: ErrorState
    kind: ErrorKind = ErrorKind.FAILURE
    #: the record's name when it failed (an organisation's, a customer's), if it has one
    name: str | None = None


@dataclass(frozen=True)
class ErrorReport:
    """What the engine reports when a record fails; see :meth:`StateStore.record_error`."""

    entity: str
    system: System
    record_id: str
    reason: str
    field: str | None = None
    vendor_code: str | None = None
    vendor_message: str | None = None
    kind: ErrorKind = ErrorKind.FAILURE
    name: str | None = None


@dataclass(frozen=True)
class ConflictReport:
    """A field both sides changed to different values since the base."""

    field: str
    webcrm_value: Any
    fortnox_value: Any
    base_value: Any
    policy: Policy
    #: ``"webcrm"`` or ``"fortnox"`` (the side whose value was kept on both), or ``None`` while
    #: open (manual policy).
    resolution: System | None


@dataclass(frozen=True)
class Conflict:
    """A stored :class:`ConflictReport` with its pair."""

    id: int
    entity: str
    link_id: int
    webcrm_id: str
    fortnox_id: str
    report: ConflictReport
    created_at: datetime
    resolved_at: datetime | None


class MatchVerdict(StrEnum):
    ACCEPTED = "accepted"  #: the two are the same record: link them
    REJECTED = "rejected"  #: not the same: never pair them automatically


@dataclass(frozen=True)
class MatchDecision:
    """A person's (or ``--yes``'s) decision on a proposed pair."""

    entity: str
    webcrm_id: str
    fortnox_id: str
    verdict: MatchVerdict
    key: str
    decided_at: datetime


@dataclass(frozen=True)
class RunRecord:
    """One sync run of one tenant, as the run log keeps it."""

    id: int
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: Mapping[str, int]
    message: str | None
    #: the entity it synced (``None`` on runs logged before the run log kept it)
    entity: str | None = None


class StateStore(Protocol):
    """What the engine remembers about one tenant between runs.

    One object serves one tenant: every row it reads or writes carries that tenant, and it never
    sees another tenant's rows. Every method commits before returning, so each record's outcome
    is durable on its own.
    """

    tenant: str

    # links and base snapshots
    async def links(self, entity: str) -> list[Link]:
        """Every link of ``entity``."""
        ...

    async def link_for(self, entity: str, system: System, record_id: str) -> Link | None:
        """The link holding ``record_id`` on ``system``, if any."""
        ...

    async def save_link(
        self,
        entity: str,
        webcrm_id: str,
        fortnox_id: str,
        base: Mapping[str, Any],
        *,
        intent_id: int | None = None,
        conflicts: Sequence[ConflictReport] = (),
        resolve_errors: bool = True,
        held: bool = False,
    ) -> Link:
        """Create or update the link of this pair with a new base, all in one transaction.

        In the same transaction: the intent ``intent_id`` (if given) becomes ``done``, the
        ``conflicts`` are recorded against the link (as :meth:`add_conflicts` does), and (unless
        ``resolve_errors`` is false, as when only part of a pair's writes succeeded) open errors
        of both records are resolved because they synced. A link that held either id with
        another partner is replaced. The link is :attr:`Link.held` exactly when ``held`` is
        given true.
        """
        ...

    async def hold_link(self, entity: str, link_id: int) -> None:
        """Mark a link held (its webCRM record is not eligible); the next save clears it."""
        ...

    async def unlink(self, entity: str, link_id: int) -> None:
        """Forget a link (one of its records is gone); its open conflicts are closed."""
        ...

    # cursors
    async def cursor(self, system: System, entity: str) -> str | None:
        """The stored change cursor, or ``None`` before the first run."""
        ...

    async def set_cursor(self, system: System, entity: str, value: str | None) -> None:
        """Store the change cursor (``None`` forgets it, forcing a full read next time)."""
        ...

    # intents
    async def add_intent(
        self, entity: str, target: System, key: str, source_id: str, payload: Mapping[str, Any]
    ) -> Intent:
        """Journal a create before sending it; returns the pending intent."""
        ...

    async def pending_intents(self, entity: str) -> list[Intent]:
        """Creates whose outcome is not known yet (sent, then crash or timeout)."""
        ...

    async def finish_intent(self, intent_id: int, state: IntentState) -> None:
        """Close an intent (``failed`` when the target refused it)."""
        ...

    # per-record errors
    async def record_error(self, report: ErrorReport) -> RecordError:
        """Store a failure; a repeat for the same record counts one more attempt (and takes the
        latest reason, kind and vendor details)."""
        ...

    async def open_errors(self, entity: str | None = None) -> list[RecordError]:
        """Records that failed and have not synced since."""
        ...

    async def resolve_errors(self, entity: str, system: System, record_id: str) -> None:
        """Close the open errors of a record (it synced, or it is no longer to be synced)."""
        ...

    # conflicts
    async def add_conflicts(
        self, entity: str, link: Link, conflicts: Sequence[ConflictReport]
    ) -> None:
        """Record conflicts without changing the link (e.g. manual ones while nothing syncs).

        A conflict recorded on a field closes the open conflicts of that field of the pair,
        without a resolution: they name values the field no longer holds.
        """
        ...

    async def conflicts(
        self, entity: str | None = None, *, open_only: bool = False
    ) -> list[Conflict]:
        """Recorded conflicts, newest last; ``open_only`` keeps those still unresolved."""
        ...

    async def resolve_conflict(self, conflict_id: int, resolution: System) -> None:
        """Mark a conflict as decided in favour of ``resolution``."""
        ...

    # match decisions
    async def save_match_decision(
        self, entity: str, webcrm_id: str, fortnox_id: str, verdict: MatchVerdict, key: str
    ) -> None:
        """Record a decision on a pair (a later decision on the same pair replaces it)."""
        ...

    async def match_decisions(self, entity: str) -> list[MatchDecision]:
        """Every recorded decision of ``entity``."""
        ...

    # run log
    async def start_run(self, mode: str, entity: str | None = None) -> int:
        """Log the start of a run (of ``entity``, when it is one entity's); returns its id."""
        ...

    async def finish_run(
        self,
        run_id: int,
        status: str,
        counts: Mapping[str, int],
        message: str | None = None,
        *,
        entity: str | None = None,
        cursors: Mapping[System, str | None] | None = None,
    ) -> None:
        """Log how a run ended and, when given, the cursors of ``entity`` it moved past what it
        handled, in one transaction (see :meth:`set_cursor`)."""
        ...

    async def runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""
        ...
