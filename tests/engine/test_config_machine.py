"""Random edits and syncs on the rules of a real tenant configuration with default settings.

The other machines drive the engine with hand-made rules. This one builds the entity with the
product's own :func:`~webcrm_fortnox.domain.customer_spec.customer_spec` for a
:class:`~webcrm_fortnox.config.TenantConfig` that sets only what it must, and lets webCRM's fake
decide eligibility with the product's Type filter. After every sync it checks the three promises
of that configuration: a blank never overwrites a value (no field's policy allows it by
default), an organisation whose Type is not in ``customer_types`` is never sent to Fortnox, and
the customer number flows only from its owner (Fortnox by default).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from tests.engine.fakes import FakeSystem, Row
from tests.engine.fault_rules import run_machine
from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.domain.customer_spec import customer_spec, synced_fields
from webcrm_fortnox.domain.types import is_synced_type
from webcrm_fortnox.engine.plan import Mode
from webcrm_fortnox.engine.ports import SourceRecord, System
from webcrm_fortnox.engine.sync import RunStatus, sync_entity
from webcrm_fortnox.store import StateDatabase, TenantState

TENANT = TenantConfig.model_validate(
    {
        "name": "defaults",
        "customer_types": ["Customer", "Private Customer"],
        "webcrm": {"api_token": "token"},
        "fortnox": {"client_id": "client", "client_secret": "secret"},
    }
)
SPEC = customer_spec(TENANT)
FIELDS = synced_fields(TENANT)
OWNER: System = TENANT.customer_number_owner
#: fields people edit here; the rest stay blank on both sides
EDITABLE = ("name", "phone", "city", "customer_number")
VALUES = st.sampled_from(["Acme", "Beta", "Lund", "08-1", "K-7", "", None])
#: Types people give organisations: synced ones (as configured and as webCRM may spell them)
#: and ones the configuration leaves out
TYPES = st.sampled_from(["Customer", "01: private customer", "Prospect", "Supplier", None])
_tenants = itertools.count()


def _blank(value: Any) -> bool:
    return value in (None, "")


class TypeFilteredSystem(FakeSystem):
    """webCRM's fake, deciding which organisations sync by the product's Type filter."""

    def _record(self, record_id: str, row: Row) -> SourceRecord:
        record = super()._record(record_id, row)
        eligible = is_synced_type(row.type, TENANT)
        return SourceRecord(
            id=record.id,
            fields=record.fields,
            modified_at=record.modified_at,
            eligible=eligible,
            excluded_reason=None if eligible else f"Type {row.type!r} is not synced",
            key=record.key,
        )


class ConfigMachine(RuleBasedStateMachine):
    """webCRM and Fortnox fakes holding the configuration's fields, synced by its rules."""

    db: StateDatabase
    loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[System, FakeSystem] = {
            "webcrm": TypeFilteredSystem(
                "webcrm", timestamps=True, new_type=TENANT.company_type_for_new, fields=FIELDS
            ),
            "fortnox": FakeSystem("fortnox", timestamps=False, fields=FIELDS),
        }
        self.state: TenantState = self.db.tenant(f"config-{next(_tenants)}-{uuid.uuid4().hex}")

    def _records(self) -> list[tuple[System, str]]:
        return sorted((s, i) for s, fake in self.sources.items() for i in fake.rows)

    # --- what people do ---------------------------------------------------------------------

    @rule(system=st.sampled_from(["webcrm", "fortnox"]), data=st.data())
    def add(self, system: System, data: st.DataObject) -> None:
        fields = {name: data.draw(VALUES, label=name) for name in EDITABLE}
        kw: dict[str, Any] = {"type": data.draw(TYPES, label="type")} if system == "webcrm" else {}
        self.sources[system].add(**kw, **fields)

    @precondition(lambda self: self._records())
    @rule(data=st.data(), name=st.sampled_from(EDITABLE), value=VALUES)
    def edit(self, data: st.DataObject, name: str, value: Any) -> None:
        system, record_id = data.draw(st.sampled_from(self._records()))
        self.sources[system].edit(record_id, **{name: value})

    @precondition(lambda self: self.sources["webcrm"].rows)
    @rule(data=st.data(), type=TYPES)
    def change_type(self, data: st.DataObject, type: str | None) -> None:
        record_id = data.draw(st.sampled_from(sorted(self.sources["webcrm"].rows)))
        self.sources["webcrm"].set_type(record_id, type)

    @precondition(lambda self: self._records())
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        system, record_id = data.draw(st.sampled_from(self._records()))
        self.sources[system].delete(record_id)

    # --- syncs and their checks -------------------------------------------------------------

    @rule(full=st.booleans())
    def sync(self, full: bool) -> None:
        before = {
            s: {i: dict(r.fields) for i, r in f.rows.items()} for s, f in self.sources.items()
        }
        types = {i: r.type for i, r in self.sources["webcrm"].rows.items()}
        result = self.loop.run_until_complete(
            sync_entity(
                SPEC, self.state, self.sources, mode=Mode.FULL if full else Mode.INCREMENTAL
            )
        )
        assert result.status is RunStatus.COMPLETED, result.message
        self._check_no_blank_overwrote(before)
        self._check_only_synced_types_reach_fortnox(types, before)
        self._check_number_flows_from_owner(before)

    def _check_no_blank_overwrote(self, before: dict[System, dict[str, dict[str, Any]]]) -> None:
        for system, rows in before.items():
            for record_id, fields in rows.items():
                now = self.sources[system].rows[record_id].fields
                for name, field_rule in SPEC.rules.items():
                    if field_rule.blank_overwrites or _blank(fields.get(name)):
                        continue
                    assert not _blank(now[name]), (
                        f"a blank overwrote {system} {record_id}.{name} = {fields[name]!r}"
                    )

    def _check_only_synced_types_reach_fortnox(
        self, types: dict[str, str | None], before: dict[System, dict[str, dict[str, Any]]]
    ) -> None:
        synced = {t.casefold() for t in TENANT.customer_types}
        fortnox = self.sources["fortnox"].rows
        for link in self.loop.run_until_complete(self.state.links("customer")):
            if link.webcrm_id not in types or link.fortnox_id not in fortnox:
                continue  # created by this sync from Fortnox, or gone from Fortnox
            org_type = types[link.webcrm_id]
            # the configuration's spelling, or webCRM's "NN: label" form of it in any case
            if (org_type or "").split(": ", 1)[-1].casefold() in synced:
                continue
            was = before["fortnox"].get(link.fortnox_id)
            assert was is not None, f"webCRM {link.webcrm_id} of Type {org_type!r} was created"
            assert fortnox[link.fortnox_id].fields == was, (
                f"webCRM {link.webcrm_id} of Type {org_type!r} was sent to Fortnox"
            )

    def _check_number_flows_from_owner(
        self, before: dict[System, dict[str, dict[str, Any]]]
    ) -> None:
        follower: System = "webcrm" if OWNER == "fortnox" else "fortnox"
        owner_rows = self.sources[OWNER].rows
        for record_id, row in owner_rows.items():
            was = before[OWNER].get(record_id)
            number = row.fields["customer_number"]
            if was is None:
                assert _blank(number), (
                    f"{OWNER} {record_id} was created with {follower}'s number {number!r}"
                )
            else:
                assert number == was["customer_number"], (
                    f"{follower}'s number reached {OWNER} {record_id}: {number!r}"
                )


def test_default_configuration_rules_hold_through_random_syncs() -> None:
    run_machine(ConfigMachine, examples=20, steps=25)
