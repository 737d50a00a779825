"""What "nothing lost, nothing duplicated, both sides equal" means, checked on real data.

Both systems are read through the product's own record sources (so the comparison is on the
canonical fields the sync promises to keep equal) and the links through the state store.
Scenarios give every record a unique name, so a name seen twice on one side is a duplicate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webcrm_fortnox.config import TenantConfig
from webcrm_fortnox.domain.customer_spec import ENTITY, customer_spec
from webcrm_fortnox.engine.adapters import customer_sources
from webcrm_fortnox.engine.ports import SourceRecord, StateStore
from webcrm_fortnox.service.connections import TenantClients


@dataclass
class World:
    """Both systems' customers, as the sync sees them, and the state store's links."""

    organisations: dict[str, SourceRecord]
    customers: dict[str, SourceRecord]
    links: list[tuple[str, str]]

    def by_name(self, system: str) -> dict[str, SourceRecord]:
        records = self.organisations if system == "webcrm" else self.customers
        return {str(r.fields.get("name")): r for r in records.values()}


async def read_world(config: TenantConfig, clients: TenantClients, state: StateStore) -> World:
    """Read every organisation and customer in full, and every link."""
    organisations, customers = customer_sources(
        config, clients.webcrm, clients.fortnox, now=clients.now
    )
    return World(
        organisations={r.id: r async for r in organisations.all()},
        customers={r.id: r async for r in customers.all()},
        links=[(link.webcrm_id, link.fortnox_id) for link in await state.links(ENTITY)],
    )


def duplicates(world: World) -> dict[str, list[str]]:
    """Names (and idempotency keys) that occur more than once on a side."""
    found: dict[str, list[str]] = {}
    for system, records in (("webcrm", world.organisations), ("fortnox", world.customers)):
        names = Counter(str(r.fields.get("name")) for r in records.values())
        keys = Counter(r.key for r in records.values() if r.key)
        found[system] = sorted(
            [n for n, count in names.items() if count > 1]
            + [f"key {k}" for k, count in keys.items() if count > 1]
        )
    return {system: names for system, names in found.items() if names}


def problems(
    world: World, config: TenantConfig, expected: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Everything that breaks the promises; empty when all hold.

    Args:
        world: as read after the run.
        config: the tenant (its synced fields).
        expected: per record name, canonical field values a person wrote; each must be on both
            sides (a record named here must exist on both sides).
    """
    found: list[str] = [f"duplicates in {s}: {names}" for s, names in duplicates(world).items()]
    webcrm_links = Counter(w for w, _ in world.links)
    fortnox_links = Counter(f for _, f in world.links)
    found += [f"webCRM {i} linked {n} times" for i, n in webcrm_links.items() if n > 1]
    found += [f"Fortnox {i} linked {n} times" for i, n in fortnox_links.items() if n > 1]
    for record in world.organisations.values():
        if record.eligible and webcrm_links[record.id] != 1:
            found.append(f"organisation {record.id} {record.fields.get('name')!r} is not linked")
    for record in world.customers.values():
        if fortnox_links[record.id] != 1:
            found.append(f"customer {record.id} {record.fields.get('name')!r} is not linked")
    fields = customer_spec(config).rules
    for webcrm_id, fortnox_id in world.links:
        organisation = world.organisations.get(webcrm_id)
        customer = world.customers.get(fortnox_id)
        if organisation is None or customer is None:
            found.append(f"link {webcrm_id}/{fortnox_id} names a record that does not exist")
            continue
        for name in fields:
            mine, theirs = organisation.fields.get(name), customer.fields.get(name)
            if (mine or None) != (theirs or None):
                found.append(f"{webcrm_id}/{fortnox_id}.{name}: {mine!r} ≠ {theirs!r}")
    for system in ("webcrm", "fortnox"):
        named = world.by_name(system)
        for record_name, values in expected.items():
            record = named.get(record_name)
            if record is None:
                found.append(f"{record_name!r} is missing in {system}")
                continue
            for name, value in values.items():
                if record.fields.get(name) != value:
                    found.append(
                        f"{system} {record_name!r}.{name} = {record.fields.get(name)!r}, "
                        f"the edit {value!r} was lost"
                    )
    return found
