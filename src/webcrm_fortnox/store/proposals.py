"""Stored match proposals: what ``match`` proposed, and what a person decided on each.

``match`` stores its proposals (:meth:`MatchProposals.propose`) instead of throwing them away, so
that a person can review them before the first import, from the CLI or the admin page. Deciding
(:meth:`MatchProposals.decide`) records the engine's match decision in the same transaction,
which the next sync applies: an accepted or chosen pair is linked, a rejected one is never paired
automatically.

States: ``proposed`` (waiting), ``accepted`` (a pair found by a key), ``chosen`` (one candidate
pair among ambiguous records: the candidates sharing one of its records are rejected with it),
``rejected``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from webcrm_fortnox.engine.ports import MatchDecision, MatchVerdict
from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.queries import MatchProposal, proposal_row
from webcrm_fortnox.store.state import StateDatabase, save_match_decision


class ProposalState(enum.StrEnum):
    """Where a proposal stands."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    #: chosen among the candidates of an ambiguity
    CHOSEN = "chosen"


class Verdict(enum.StrEnum):
    """What a person decides on a proposal."""

    ACCEPT = "accept"
    REJECT = "reject"
    #: this candidate pair among ambiguous ones (accepting a candidate chooses it)
    CHOOSE = "choose"


@dataclass(frozen=True)
class Proposed:
    """A pair ``match`` proposes now.

    Attributes:
        webcrm_id: the webCRM record.
        fortnox_id: the Fortnox record.
        key: the match key that paired them.
        candidates: for a candidate pair among ambiguous records, the group all candidate
            pairs of that ambiguity share; ``None`` for an unambiguous pair.
        webcrm_name: the webCRM record's name.
        fortnox_name: the Fortnox record's name.
    """

    webcrm_id: str
    fortnox_id: str
    key: str
    candidates: str | None = None
    webcrm_name: str | None = None
    fortnox_name: str | None = None


class ProposalError(LookupError):
    """The decision names no proposal of the tenant, or one that cannot take it."""


class MatchProposals:
    """The ``match_proposals`` table of a :class:`StateDatabase`."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    async def propose(
        self,
        tenant: str,
        entity: str,
        proposed: Sequence[Proposed],
        *,
        every: bool = True,
    ) -> list[MatchProposal]:
        """Store what ``match`` proposes now, in one transaction.

        A pair already stored keeps its id and its decision. With ``every`` (``match``, which
        proposes for every unlinked record), a pair still only proposed that is no longer
        proposed (linked since, or gone) is dropped; without it (a sync, which proposes for the
        ambiguous records it read), the others are left as they are.

        Returns:
            The stored rows of ``proposed``, in its order.
        """
        rows = t.match_proposals.c
        now = self.db.clock()
        mine = (rows.tenant == tenant) & (rows.entity == entity)
        wanted = {(p.webcrm_id, p.fortnox_id): p for p in proposed}
        async with self.db.begin() as conn:
            stored = {
                (row.webcrm_id, row.fortnox_id): row
                for row in await conn.execute(sa.select(t.match_proposals).where(mine))
            }
            gone = [
                row.id
                for pair, row in stored.items()
                if pair not in wanted and row.state == ProposalState.PROPOSED.value
            ]
            if gone and every:
                await conn.execute(sa.delete(t.match_proposals).where(rows.id.in_(gone)))
            for pair, p in wanted.items():
                values = {
                    "key": p.key,
                    "candidates": p.candidates,
                    "webcrm_name": p.webcrm_name,
                    "fortnox_name": p.fortnox_name,
                    "proposed_at": now,
                }
                if pair in stored:
                    await conn.execute(
                        sa.update(t.match_proposals)
                        .where(rows.id == stored[pair].id)
                        .values(**values)
                    )
                else:
                    await conn.execute(
                        sa.insert(t.match_proposals).values(
                            tenant=tenant,
                            entity=entity,
                            webcrm_id=p.webcrm_id,
                            fortnox_id=p.fortnox_id,
                            state=ProposalState.PROPOSED.value,
                            **values,
                        )
                    )
            result = {
                (row.webcrm_id, row.fortnox_id): proposal_row(row)
                for row in await conn.execute(sa.select(t.match_proposals).where(mine))
            }
        return [result[pair] for pair in wanted]

    async def decide(
        self, tenant: str, proposal_id: int, verdict: Verdict, decided_by: str
    ) -> list[MatchProposal]:
        """Decide on a proposal of ``tenant`` and record the match decision the next sync
        applies, in one transaction.

        Choosing a candidate (or accepting one) rejects the other candidates of its ambiguity
        that share one of its records: a record is the same as one record on the other side.

        Returns:
            Every proposal the decision changed, the decided one first.

        Raises:
            ProposalError: no such proposal of ``tenant``, or ``choose`` on a pair that is no
                candidate among others.
        """
        rows = t.match_proposals.c
        now = self.db.clock()
        async with self.db.begin() as conn:
            found = (
                await conn.execute(
                    sa.select(t.match_proposals).where(
                        rows.id == proposal_id, rows.tenant == tenant
                    )
                )
            ).first()
            if found is None:
                raise ProposalError(
                    f"no match proposal {proposal_id} of tenant {tenant!r}; "
                    "`webcrm-fortnox match --list` lists them"
                )
            proposal = proposal_row(found)
            if verdict is Verdict.CHOOSE and proposal.candidates is None:
                raise ProposalError(
                    f"match proposal {proposal_id} is no candidate among others: accept it"
                )
            decided: list[tuple[MatchProposal, ProposalState]] = []
            if verdict is Verdict.REJECT:
                decided.append((proposal, ProposalState.REJECTED))
            elif proposal.candidates is None:
                decided.append((proposal, ProposalState.ACCEPTED))
            else:
                decided.append((proposal, ProposalState.CHOSEN))
                siblings = await conn.execute(
                    sa.select(t.match_proposals).where(
                        rows.tenant == tenant,
                        rows.entity == proposal.entity,
                        rows.candidates == proposal.candidates,
                        rows.id != proposal.id,
                        (rows.webcrm_id == proposal.webcrm_id)
                        | (rows.fortnox_id == proposal.fortnox_id),
                    )
                )
                decided += [(proposal_row(row), ProposalState.REJECTED) for row in siblings]
            for each, state in decided:
                await conn.execute(
                    sa.update(t.match_proposals)
                    .where(rows.id == each.id)
                    .values(state=state.value, decided_at=now, decided_by=decided_by)
                )
                engine_verdict = (
                    MatchVerdict.REJECTED
                    if state is ProposalState.REJECTED
                    else MatchVerdict.ACCEPTED
                )
                await save_match_decision(
                    conn,
                    tenant,
                    MatchDecision(
                        each.entity, each.webcrm_id, each.fortnox_id, engine_verdict, each.key, now
                    ),
                )
            changed = await conn.execute(
                sa.select(t.match_proposals).where(rows.id.in_([each.id for each, _ in decided]))
            )
            by_id = {row.id: proposal_row(row) for row in changed}
        return [by_id[each.id] for each, _ in decided]
