"""What the emulator knows about each kind of record, and the rules an entity adds to the generic
create / update / delete flow of :class:`~webcrm_fortnox.webcrm.emulator.system.System`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from webcrm_fortnox.webcrm.emulator.collection import IndexSpec
from webcrm_fortnox.webcrm.emulator.dto import DtoSpec, Record

if TYPE_CHECKING:
    from webcrm_fortnox.webcrm.emulator.system import System


class EntityRules:
    """An entity's own behaviour on writes. The defaults do nothing."""

    def prepare(self, system: System, values: Record, previous: Record | None) -> None:
        """Adjust the validated values of a write before they are merged into the record."""

    def derive(self, record: Record) -> None:
        """Set the fields the server computes from others (e.g. ``OrganisationCompareName``)."""

    def check(self, system: System, record: Record, previous: Record | None) -> None:
        """Refuse a write (raise ``WebcrmError``) before anything is stored."""


@dataclass(frozen=True)
class EntityKind:
    """One kind of record.

    Attributes:
        name: the singular name (``Organisation``): messages, hook events, ``/Queries`` tables.
        route: the path of its collection (``/Organisations``).
        dto: what reads return; ``write_dto`` what writes accept (QuotationLines differ).
        id_series: the counter ids come from (deliveries share opportunities' sequence).
        audit_prefix: prefix of the ``CreatedAt/By``, ``UpdatedAt/By`` fields the server sets,
            or ``None`` when the DTO has none.
        derived: further fields only the server sets; values sent for them are ignored.
        immutable: fields a PUT cannot change (ignored, like the real API).
        hooks: whether changes are announced to the entity's hooks.
    """

    name: str
    route: str
    dto: DtoSpec
    id_field: str
    id_series: str
    write_dto: DtoSpec | None = None
    audit_prefix: str | None = None
    derived: tuple[str, ...] = ()
    immutable: tuple[str, ...] = ()
    indexes: tuple[IndexSpec, ...] = ()
    hooks: bool = False
    rules: EntityRules = field(default_factory=EntityRules)

    @property
    def body_dto(self) -> DtoSpec:
        return self.write_dto or self.dto

    def audit_fields(self) -> tuple[str, ...]:
        if self.audit_prefix is None:
            return ()
        p = self.audit_prefix
        return (f"{p}CreatedAt", f"{p}CreatedBy", f"{p}UpdatedAt", f"{p}UpdatedBy")

    def server_fields(self) -> tuple[str, ...]:
        """Every field a client cannot set."""
        return (self.id_field, *self.audit_fields(), *self.derived)
