"""What a person decides: match proposals before the first sync, and manual conflicts."""

from __future__ import annotations

from collections.abc import Mapping

from webcrm_fortnox.engine.matching import MatchResult, match_records
from webcrm_fortnox.engine.ports import (
    Conflict,
    EntitySpec,
    RecordSource,
    StateStore,
    System,
    other_system,
)


class ReviewError(LookupError):
    """The decision names something that does not exist (any more)."""


async def propose_matches(
    spec: EntitySpec, state: StateStore, sources: Mapping[System, RecordSource]
) -> MatchResult:
    """Pair the records of both sides that are not linked yet, for ``match`` to show.

    Reads every record of both systems; writes nothing. Earlier decisions are honoured (an
    accepted pair shows as a pair with key ``"decision"``, a rejected one is never proposed).
    """
    linked: dict[System, set[str]] = {"webcrm": set(), "fortnox": set()}
    for link in await state.links(spec.entity):
        linked["webcrm"].add(link.webcrm_id)
        linked["fortnox"].add(link.fortnox_id)
    unlinked = {
        system: [r async for r in sources[system].all() if r.id not in linked[system]]
        for system in ("webcrm", "fortnox")
    }
    decisions = await state.match_decisions(spec.entity)
    return match_records(spec.match_keys, unlinked["webcrm"], unlinked["fortnox"], decisions)


async def resolve_conflict(
    spec: EntitySpec,
    state: StateStore,
    sources: Mapping[System, RecordSource],
    conflict_id: int,
    winner: System,
) -> Conflict:
    """Settle an open conflict: ``winner``'s current value is written to the other side.

    Raises:
        ReviewError: no open conflict with that id, or its pair is no longer linked or gone.
        ApiError: the write was refused; the conflict stays open.
    """
    open_conflicts = await state.conflicts(spec.entity, open_only=True)
    conflict = next((c for c in open_conflicts if c.id == conflict_id), None)
    if conflict is None:
        raise ReviewError(f"no open conflict {conflict_id}")
    link = await state.link_for(spec.entity, "webcrm", conflict.webcrm_id)
    if link is None or link.id != conflict.link_id:
        raise ReviewError(f"the records of conflict {conflict_id} are no longer linked")
    loser = other_system(winner)
    records = {s: await sources[s].get(link.id_on(s)) for s in (winner, loser)}
    source, target = records[winner], records[loser]
    if source is None or target is None:
        raise ReviewError(f"a record of conflict {conflict_id} is gone")
    name = conflict.report.field
    value = source.fields.get(name)
    if target.fields.get(name) != value:
        await sources[loser].update(target.id, {name: value}, target)
    await state.save_link(spec.entity, link.webcrm_id, link.fortnox_id, {**link.base, name: value})
    await state.resolve_conflict(conflict.id, winner)
    return conflict
