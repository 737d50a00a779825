"""One webCRM system (one customer's CRM, reached with one application token) and its writes.

Every write goes through the same steps, so every entity behaves alike: validate the body against
the DTO (nothing is stored if any value is refused), merge it into the stored record (PUT is a
merge: keys not sent keep their values), let the entity's rules adjust, derive and check, stamp
``*CreatedAt/By`` and ``*UpdatedAt/By`` from the emulated clock, store, then announce the change to
the system's hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from webcrm_fortnox.emulation import EmulatorClock, Storage
from webcrm_fortnox.webcrm.emulator.collection import Collection
from webcrm_fortnox.webcrm.emulator.configuration import custom_field_defaults
from webcrm_fortnox.webcrm.emulator.dto import Record
from webcrm_fortnox.webcrm.emulator.errors import WebcrmError, bad_request, not_found
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind
from webcrm_fortnox.webcrm.emulator.timestamps import format_time

ChangeListener = Callable[["System", EntityKind, int, str], None]
EXTRA_CUSTOM_FIELDS = tuple(f"OrganisationExtraCustom{n}" for n in range(1, 9))


class SystemSettings(BaseModel):
    """How one emulated webCRM system is configured (``POST /_emulator/tenants`` options).

    Attributes:
        api_token: the application token (``authCode``) that reaches this system.
        api_access: ``False`` models a subscription without the REST API (neither Plus nor
            Enterprise): logins are refused.
        token_name: the name webCRM shows for the token in ``*CreatedBy``/``*UpdatedBy``.
        unique_fields: the ``OrganisationExtraCustom`` fields flagged unique in this system.
        organisation_post_response: what ``POST /Organisations`` answers (reference Q1): the
            created ``OrganisationDto``, the bare id, or an empty body.
        quotation_line_queries: whether ``/Queries`` knows the ``QuotationLine`` table; the
            reference (§7) does not confirm that it does, so ``False`` answers it like any
            unknown table.
    """

    model_config = ConfigDict(extra="forbid")

    api_token: str = Field(min_length=1)
    api_access: bool = True
    token_name: str = "API webcrm-fortnox"
    unique_fields: list[str] = Field(default_factory=list)
    organisation_post_response: Literal["dto", "int", "empty"] = "dto"
    quotation_line_queries: bool = True

    @field_validator("unique_fields")
    @classmethod
    def _extra_custom_only(cls, fields: list[str]) -> list[str]:
        by_lower = {name.lower(): name for name in EXTRA_CUSTOM_FIELDS}
        unknown = [f for f in fields if f.lower() not in by_lower]
        if unknown:
            raise ValueError(f"only OrganisationExtraCustom1..8 can be unique, not {unknown}")
        return [by_lower[f.lower()] for f in fields]


class System:
    """The records, settings and write rules of one webCRM system."""

    def __init__(
        self,
        settings: SystemSettings,
        storage: Storage,
        clock: EmulatorClock,
        kinds: Iterable[EntityKind],
        on_change: ChangeListener,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.kinds = {kind.name: kind for kind in kinds}
        self._on_change = on_change
        self.collections = {
            kind.name: Collection(
                storage.table(self.tenant, kind.name), kind.id_field, kind.indexes
            )
            for kind in self.kinds.values()
        }

    @property
    def tenant(self) -> str:
        """The name statistics and storage use for this system: its application token."""
        return self.settings.api_token

    def now(self) -> datetime:
        return self.clock.now()

    def now_text(self) -> str:
        return format_time(self.clock.now())

    def of(self, kind: EntityKind | str) -> Collection:
        return self.collections[kind if isinstance(kind, str) else kind.name]

    def get(self, kind: EntityKind, record_id: int) -> Record:
        """The stored record, or a 404."""
        record = self.of(kind).get(record_id)
        if record is None:
            raise not_found(kind.name, record_id)
        return record

    def blank(self, kind: EntityKind) -> Record:
        """A new record before any value is set: the DTO's unset values and configured defaults."""
        return kind.dto.blank() | custom_field_defaults(kind.name)

    def create(self, kind: EntityKind, body: Any, *, announce: bool = True) -> Record:
        """Validate and store a new record; its id comes from the kind's sequence."""
        values = kind.body_dto.read(body, ignore=kind.server_fields())
        record = self._compose(kind, values, None)
        record[kind.id_field] = self.storage.next_number(self.tenant, kind.id_series)
        self.of(kind).put(record)
        if announce:
            self._on_change(self, kind, record[kind.id_field], "Create")
        return record

    def update(self, kind: EntityKind, record_id: int, body: Any) -> Record:
        """Merge ``body`` into the stored record (keys not sent keep their values)."""
        previous = self.get(kind, record_id)
        values = kind.body_dto.read(body, ignore=(*kind.server_fields(), *kind.immutable))
        record = self._compose(kind, values, previous)
        self.of(kind).put(record)
        self._on_change(self, kind, record_id, "Update")
        return record

    def delete(self, kind: EntityKind, record_id: int) -> None:
        self.get(kind, record_id)
        self.of(kind).remove(record_id)
        self._on_change(self, kind, record_id, "Delete")

    def delete_all(self, kind: EntityKind) -> None:
        for record_id in list(self.of(kind).ids):
            self.delete(kind, record_id)

    def upsert_many(self, kind: EntityKind, items: Any) -> list[str]:
        """The bulk ``PATCH``: insert items with id 0, update the others, each on its own.

        Returns:
            One entry per item, in order: the id of the record written, or the reason it was not
            (a refused item changes nothing; the others are still written).
        """
        if not isinstance(items, list):
            raise bad_request(f"The request body must be a JSON array of {kind.body_dto.name}.")
        id_spec = kind.dto.lookup(kind.id_field)
        assert id_spec is not None
        outcome: list[str] = []
        for item in items:
            try:
                raw_id = item.get(kind.id_field) if isinstance(item, dict) else None
                record_id = id_spec.coerce(raw_id) if raw_id is not None else 0
                if record_id:
                    self.update(kind, record_id, item)
                else:
                    record_id = self.create(kind, item)[kind.id_field]
                outcome.append(str(record_id))
            except WebcrmError as refused:
                outcome.append(refused.message)
        return outcome

    def _compose(self, kind: EntityKind, values: Record, previous: Record | None) -> Record:
        kind.rules.prepare(self, values, previous)
        record = dict(previous) if previous is not None else self.blank(kind)
        record.update(values)
        if kind.audit_prefix is not None:
            stamp, by = self.now_text(), self.settings.token_name
            if previous is None:
                record[f"{kind.audit_prefix}CreatedAt"] = stamp
                record[f"{kind.audit_prefix}CreatedBy"] = by
            record[f"{kind.audit_prefix}UpdatedAt"] = stamp
            record[f"{kind.audit_prefix}UpdatedBy"] = by
        kind.rules.derive(record)
        kind.rules.check(self, record, previous)
        return record
