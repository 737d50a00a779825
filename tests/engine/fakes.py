"""In-memory systems that obey the engine's RecordSource port exactly as the real adapters must.

A :class:`FakeSystem` plays one side: people edit it directly (``add``/``edit``/``delete``/
``set_type``), the engine reads and writes it through the port. ``changes`` works like a
"modified since" filter with an overlap window, so records are re-read and the engine must drop
what it already saw. Failures can be injected per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from webcrm_fortnox.engine.ports import (
    ChangeBatch,
    Direction,
    EntitySpec,
    FieldRule,
    Fields,
    MatchKey,
    Policy,
    SourceRecord,
    System,
)
from webcrm_fortnox.errors import ApiError, NotFound, TransientError, ValidationError

FIELDS = ("name", "phone", "city", "email", "number")
SYNC_TYPES = frozenset({"Customer", "Private Customer"})


def customer_spec(**overrides: FieldRule) -> EntitySpec:
    """A customer-like entity: one field per policy, and a number Fortnox assigns."""
    rules = {
        "name": FieldRule(Direction.BOTH, Policy.FORTNOX),
        "phone": FieldRule(Direction.BOTH, Policy.WEBCRM),
        "city": FieldRule(Direction.BOTH, Policy.NEWEST),
        "email": FieldRule(Direction.BOTH, Policy.MANUAL),
        "number": FieldRule(Direction.TO_WEBCRM, Policy.FORTNOX),
    }
    rules.update(overrides)
    return EntitySpec(
        entity="customer",
        rules=rules,
        match_keys=(
            MatchKey("customer number", ("number",)),
            MatchKey("e-mail", ("email",)),
            MatchKey("name and city", ("name", "city")),
        ),
        # as for real customers: every change, a Type change included, shows in ``changes``
        unlisted_partner_is_base=True,
    )


@dataclass
class Row:
    fields: dict[str, Any]
    type: str | None
    key: str | None
    seq: int
    modified_at: datetime | None


@dataclass
class Calls:
    """What the engine asked of a system."""

    creates: int = 0
    updates: int = 0
    lookups: int = 0
    gets: int = 0

    @property
    def writes(self) -> int:
        return self.creates + self.updates


@dataclass
class Faults:
    """Failures to inject; each ``*_once`` fires on the next matching call and is then cleared."""

    #: refuse creates/updates whose resulting fields make this return an error
    reject: Callable[[Mapping[str, Any]], ApiError | None] | None = None
    #: store the created record, then lose the answer (a timeout after the vendor acted)
    lose_create_answer_once: bool = False
    #: lose the next create's answer, and carry the create out only this long after it was
    #: sent, by the system's ``clock`` (a request the vendor still works on after a timeout)
    create_lands_after_once: timedelta | None = None
    #: fail the next create before anything is stored, with this error
    create_error_once: ApiError | None = None
    #: fail every read (changes/get/all) with this error
    read_error: ApiError | None = None
    #: fail every write with this error
    write_error: ApiError | None = None


class FakeSystem:
    """One system holding one entity in memory.

    Args:
        system: ``"webcrm"`` or ``"fortnox"``.
        entity: the entity name.
        timestamps: whether records carry ``modified_at`` (webCRM does, Fortnox does not).
        assigns_number: create assigns ``number`` (= the id) when none is given (Fortnox).
        sync_types: when given, only records whose type is in it are eligible (webCRM Type).
        new_type: the type given to records the engine creates here.
        overlap: how many change steps ``changes`` re-reads before the cursor.
    """

    def __init__(
        self,
        system: System,
        entity: str = "customer",
        *,
        timestamps: bool,
        assigns_number: bool = False,
        sync_types: frozenset[str] | None = None,
        new_type: str | None = None,
        overlap: int = 2,
        fields: tuple[str, ...] = FIELDS,
    ) -> None:
        self.system: System = system
        self.entity = entity
        self.timestamps = timestamps
        self.assigns_number = assigns_number
        self.sync_types = sync_types
        self.new_type = new_type
        self.overlap = overlap
        self.field_names = fields
        self.rows: dict[str, Row] = {}
        self.seq = 0
        self.next_id = 1000 if assigns_number else 1
        self.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        #: the time late creates land by (a machine with a clock replaces it)
        self.clock: Callable[[], datetime] = lambda: self.now
        #: creates carried out later than sent: (when they land, id, the record)
        self.in_flight: list[tuple[datetime, str, Row]] = []
        self.calls = Calls()
        self.faults = Faults()

    # --- what people do ---------------------------------------------------------------------

    def _stamp(self) -> tuple[int, datetime | None]:
        self.seq += 1
        self.now += timedelta(seconds=1)
        return self.seq, (self.now if self.timestamps else None)

    def add(self, *, type: str | None = "Customer", key: str | None = None, **fields: Any) -> str:
        """A person creates a record; returns its id."""
        record_id = self._new_id(fields)
        seq, stamp = self._stamp()
        values = {name: fields.get(name) for name in self.field_names}
        if self.assigns_number:
            values["number"] = record_id  # a Fortnox customer's number is its id
        self.rows[record_id] = Row(values, type, key, seq, stamp)
        return record_id

    def edit(self, record_id: str, *, silently: bool = False, **fields: Any) -> None:
        """A person changes fields (``silently``: without the change showing in ``changes``)."""
        row = self.rows[record_id]
        row.fields.update(fields)
        if not silently:
            row.seq, row.modified_at = self._stamp()

    def set_type(self, record_id: str, type: str | None) -> None:
        row = self.rows[record_id]
        row.type = type
        row.seq, row.modified_at = self._stamp()

    def delete(self, record_id: str) -> None:
        del self.rows[record_id]

    def fields_of(self, record_id: str) -> dict[str, Any]:
        return dict(self.rows[record_id].fields)

    def land(self) -> None:
        """Carry out the late creates that are due by ``clock``: they show from now on."""
        due = [entry for entry in self.in_flight if entry[0] <= self.clock()]
        for entry in due:
            self.in_flight.remove(entry)
            _, record_id, row = entry
            row.seq, row.modified_at = self._stamp()
            self.rows[record_id] = row

    def keys(self) -> list[str]:
        """The idempotency keys of every record, those of creates still in flight included."""
        rows = [*self.rows.values(), *(row for _, _, row in self.in_flight)]
        return [row.key for row in rows if row.key]

    # --- the port ---------------------------------------------------------------------------

    def _new_id(self, fields: Mapping[str, Any]) -> str:
        if self.assigns_number and fields.get("number"):
            return str(fields["number"])
        while str(self.next_id) in self.rows:
            self.next_id += 1
        record_id = str(self.next_id)
        self.next_id += 1
        return record_id

    def _record(self, record_id: str, row: Row) -> SourceRecord:
        eligible = self.sync_types is None or row.type in self.sync_types
        return SourceRecord(
            id=record_id,
            fields=dict(row.fields),
            modified_at=row.modified_at,
            eligible=eligible,
            excluded_reason=None if eligible else f"Type {row.type!r} is not synced",
            key=row.key,
        )

    def _check_read(self) -> None:
        if self.faults.read_error is not None:
            raise self.faults.read_error

    def _check_write(self, fields: Mapping[str, Any]) -> None:
        if self.faults.write_error is not None:
            raise self.faults.write_error
        if self.faults.reject is not None:
            error = self.faults.reject(fields)
            if error is not None:
                raise error

    async def changes(self, cursor: str | None) -> ChangeBatch:
        self._check_read()
        since = -1 if cursor is None else int(cursor) - self.overlap
        records = [self._record(i, r) for i, r in self.rows.items() if r.seq > since]
        return ChangeBatch(records, str(self.seq))

    async def all(self) -> AsyncIterator[SourceRecord]:
        self._check_read()
        for record_id, row in list(self.rows.items()):
            yield self._record(record_id, row)

    async def get(self, id: str) -> SourceRecord | None:
        self.calls.gets += 1
        self._check_read()
        row = self.rows.get(id)
        return None if row is None else self._record(id, row)

    async def create(self, fields: Fields, idempotency_key: str) -> SourceRecord:
        self.calls.creates += 1
        if self.faults.create_error_once is not None:
            error, self.faults.create_error_once = self.faults.create_error_once, None
            raise error
        values = {name: fields.get(name) for name in self.field_names}
        self._check_write(values)
        if self.assigns_number and values.get("number") and str(values["number"]) in self.rows:
            raise ValidationError(
                "the customer number is taken", system=self.system, code=2000637, field="number"
            )
        record_id = self._new_id(values)
        if self.assigns_number:
            values["number"] = record_id
        seq, stamp = self._stamp()
        row = Row(values, self.new_type, idempotency_key, seq, stamp)
        late = self.faults.create_lands_after_once
        if late is not None:
            self.faults.create_lands_after_once = None
            self.in_flight.append((self.clock() + late, record_id, row))
            raise TransientError("read timed out", system=self.system, not_sent=False)
        self.rows[record_id] = row
        if self.faults.lose_create_answer_once:
            self.faults.lose_create_answer_once = False
            raise TransientError("read timed out", system=self.system, not_sent=False)
        return self._record(record_id, row)

    async def update(self, id: str, changes: Fields, current: SourceRecord) -> SourceRecord:
        self.calls.updates += 1
        row = self.rows.get(id)
        if row is None:
            raise NotFound("no such record", system=self.system, status=404)
        self._check_write({**row.fields, **changes})
        unknown = set(changes) - set(self.field_names)
        assert not unknown, f"the engine wrote fields this system does not hold: {unknown}"
        row.fields.update(changes)
        row.seq, row.modified_at = self._stamp()
        return self._record(id, row)

    async def find_by_key(self, idempotency_key: str) -> SourceRecord | None:
        self.calls.lookups += 1
        self._check_read()
        for record_id, row in self.rows.items():
            if row.key == idempotency_key:
                return self._record(record_id, row)
        return None


@dataclass
class Systems:
    """A webCRM-like and a Fortnox-like fake, as the engine's ``sources`` mapping."""

    webcrm: FakeSystem = field(
        default_factory=lambda: FakeSystem(
            "webcrm", timestamps=True, sync_types=SYNC_TYPES, new_type="Customer"
        )
    )
    fortnox: FakeSystem = field(
        default_factory=lambda: FakeSystem("fortnox", timestamps=False, assigns_number=True)
    )

    @property
    def sources(self) -> dict[System, FakeSystem]:
        return {"webcrm": self.webcrm, "fortnox": self.fortnox}

    @property
    def writes(self) -> int:
        return self.webcrm.calls.writes + self.fortnox.calls.writes
