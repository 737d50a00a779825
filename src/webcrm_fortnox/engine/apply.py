"""Applying a plan's actions one by one, each record's outcome committed on its own.

Each action applies itself (see :mod:`webcrm_fortnox.engine.actions`) through the services of an
:class:`Applier`: the sources, the state store, the settling of a pair's writes and the storing
of a failure. A failure of one record (the vendor refused it, no reliable answer) is stored as a
per-record error and the run goes on; only an authentication or permission failure stops the
run, because every further call would fail the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from webcrm_fortnox.engine.actions import (
    ATTENTION,
    Action,
    RecordOutcome,
    RecordStatus,
    WriteFailed,
)
from webcrm_fortnox.engine.decide import one_sided_action
from webcrm_fortnox.engine.merge import FieldChange, merge
from webcrm_fortnox.engine.ports import (
    SYSTEMS,
    ConflictReport,
    EntitySpec,
    ErrorKind,
    ErrorReport,
    Link,
    RecordSource,
    SourceRecord,
    StateStore,
    System,
    other_system,
    system_name,
    utcnow,
)
from webcrm_fortnox.engine.writeback import WriteBack, WriteBackQueue
from webcrm_fortnox.errors import (
    ApiError,
    AuthError,
    BookedInvoiceError,
    NoAnswer,
    PermissionDenied,
    TransientError,
    ValidationError,
)

__all__ = [
    "ATTENTION",
    "CREATE_SETTLE",
    "STOPPING",
    "Applier",
    "RecordOutcome",
    "RecordStatus",
]

log = logging.getLogger(__name__)

#: How long after a create got no answer a lookup that does not find it may conclude that it
#: never happened, by default (a tenant sets ``unanswered_create_wait_seconds``). A request whose
#: answer was lost (a timeout) can still be carried out by the vendor for a while; sending it
#: again sooner makes a duplicate when it lands.
CREATE_SETTLE = timedelta(minutes=5)


#: Failures that end the tenant's run: every further call would fail the same way.
STOPPING = (AuthError, PermissionDenied)


class Applier:
    """Applies actions of one entity for one tenant.

    Args:
        spec: the entity's fields and rules.
        state: the tenant's state store.
        sources: the entity's record source per system.
        now: the clock the state store stamps intents with.
        create_settle: how long after a create that got no answer its lookup may conclude that
            it never happened (see :data:`CREATE_SETTLE`).
    """

    def __init__(
        self,
        spec: EntitySpec,
        state: StateStore,
        sources: Mapping[System, RecordSource],
        *,
        now: Callable[[], datetime] = utcnow,
        create_settle: timedelta = CREATE_SETTLE,
    ) -> None:
        self.spec = spec
        self.state = state
        self.sources = sources
        self.now = now
        self.create_settle = create_settle
        self.writebacks = WriteBackQueue(sources)

    @property
    def entity(self) -> str:
        return self.spec.entity

    async def settled(self, *, wait: bool = False) -> list[RecordOutcome]:
        """Store what the write-backs finished so far did (with ``wait``: all of them, once
        they are finished); returns an outcome for each one that failed.

        Raises:
            AuthError, PermissionDenied: a write-back found the credentials no longer work.
        """
        finished = await self.writebacks.drain() if wait else self.writebacks.finished()
        failed = []
        for item, error in finished:
            webcrm, fortnox = item.records["webcrm"].id, item.records["fortnox"].id
            if error is None:
                await self.state.save_link(
                    self.entity, webcrm, fortnox, item.base, conflicts=item.conflicts
                )
                continue
            if isinstance(error, STOPPING) or not isinstance(error, ApiError):
                raise error
            # The link keeps the base without the fields: the next run sends them again.
            failed.append(await self.failed(item.action, other_system(item.target), error))
        return failed

    async def close(self) -> None:
        """Stop sending write-backs (the run is over, or stops)."""
        await self.writebacks.close()

    async def apply(self, action: Action) -> RecordOutcome:
        """Apply one action; a per-record failure is stored and returned, never raised.

        Raises:
            AuthError: the credentials stopped working; the run must stop.
            PermissionDenied: the account lacks a scope or licence; the run must stop.
        """
        try:
            return await action.apply(self)
        except WriteFailed as failed:
            if isinstance(failed.error, STOPPING):
                raise failed.error from None
            return await action.write_failed(self, failed)

    def one_sided(self, system: System, record: SourceRecord, *, lookup_first: bool) -> Action:
        """The action for ``record`` on ``system`` without a partner (see
        :func:`~webcrm_fortnox.engine.decide.one_sided_action`)."""
        return one_sided_action(self.spec, system, record, lookup_first=lookup_first)

    async def partner_gone(self, action: Action, link: Link, gone: System) -> RecordOutcome:
        """The record a change was written to no longer exists: unlink, and treat the survivor
        like any record without a partner (deletions do not propagate), as the planner does
        when it reads a partner and finds it gone."""
        await self.state.unlink(self.entity, link.id)
        kept = other_system(gone)
        detail = f"the {system_name(gone)} record is gone; the {system_name(kept)} one is kept"
        survivor = action.records.get(kept)
        if survivor is None:
            return self.outcome(action, RecordStatus.UNLINKED, detail)
        outcome = await self.apply(self.one_sided(kept, survivor, lookup_first=True))
        if outcome.detail:
            detail = f"{detail}; {outcome.detail}"
        return RecordOutcome(
            action, outcome.status, outcome.webcrm_id, outcome.fortnox_id, detail, outcome.error
        )

    def outcome(
        self,
        action: Action,
        status: RecordStatus,
        detail: str | None = None,
        *,
        ids: Mapping[System, str] | None = None,
    ) -> RecordOutcome:
        """How ``action`` ended; ``ids``: its records, when it made one."""
        ids = action.ids if ids is None else ids
        return RecordOutcome(action, status, ids.get("webcrm"), ids.get("fortnox"), detail)

    async def failed(self, action: Action, source: System, error: ApiError) -> RecordOutcome:
        """Store ``error`` as the error of ``action``'s record on ``source`` (the record whose
        change or create failed) and say how it ended."""
        target = other_system(source)
        refuser = system_name(error.system) if error.system in SYSTEMS else system_name(target)
        locked = isinstance(error, BookedInvoiceError)
        if locked:
            # Accounting forbids the change; the adapter says why (whether it sent nothing or
            # the vendor refused), and retrying cannot help until the record changes.
            reason = error.explanation
        elif isinstance(error, ValidationError) and _not_from_vendor(error):
            # Raised before sending (no answer came): the record cannot be sent as it is.
            reason = f"not sent to {refuser}: {error.explanation}"
        elif isinstance(error, NoAnswer) and error.not_sent:
            # The network's failure, never the vendor's refusal: nothing reached it.
            reason = f"not sent: {refuser} did not answer ({error.explanation})"
        elif isinstance(error, TransientError) and not error.not_sent:
            reason = (
                f"no reliable answer from {refuser} ({error.explanation}); "
                "it is looked up before anything is sent again"
            )
        else:
            reason = f"{refuser} refused it: {error.explanation}"
        record_id = action.ids.get(source) or action.ids[target]
        await self.state.record_error(
            ErrorReport(
                self.entity,
                source,
                record_id,
                reason,
                field=error.field,
                vendor_code=None if error.code is None else str(error.code),
                vendor_message=error.vendor_message,
                kind=ErrorKind.LOCKED if locked else ErrorKind.FAILURE,
                name=action.name,
            )
        )
        log.warning(
            "record failed",
            extra={"entity": self.entity, "system": source, "record": record_id, "error": reason},
        )
        status = RecordStatus.LOCKED if locked else RecordStatus.FAILED
        return RecordOutcome(action, status, action.webcrm_id, action.fortnox_id, reason, error)

    async def adopt(
        self,
        action: Action,
        source: System,
        record: SourceRecord,
        created: SourceRecord,
        sent: Mapping[str, Any] | None,
        intent_id: int | None,
        *,
        queue: bool = False,
        finishing: Sequence[FieldChange] = (),
    ) -> RecordOutcome:
        """Link ``record`` (on ``source``) with the record created from it, writing back what
        the target set.

        The merge runs against what was sent as the base, so a value the target assigned or
        normalised (e.g. a Fortnox customer number) flows back to the source at once, and a
        second run sees nothing new. With ``queue``, a write-back to the source alone is
        queued (see :mod:`~webcrm_fortnox.engine.writeback`) once the pair is linked.

        ``finishing`` completes a create cut short: the created record is merged as it will be
        once they are written, and they are written with the merge's changes. A value they
        replace that is not blank (no lines, or only the first ones) may as well be a person's
        removal made since the create landed, so it is recorded as a conflict, stored with the
        link before anything is written.
        """
        finished = {change.field: change.new for change in finishing}
        created = replace(created, fields={**created.fields, **finished})
        records: dict[System, SourceRecord] = {source: record, other_system(source): created}
        result = merge(self.spec.rules, sent, records["webcrm"], records["fortnox"])
        # The merge's own changes come last: a source edited since the create wins over what
        # was sent.
        changes = (*finishing, *(c for s in SYSTEMS for c in result.writes[s].values()))
        conflicts = [
            *(self._overwritten(change) for change in finishing if change.old not in (None, "")),
            *result.conflicts,
        ]
        # Until the finishing writes are done, the base holds what the record held: a run after
        # a crash sees the sent values as the source's, and writes them again.
        old_base = None if sent is None else {**sent, **{c.field: c.old for c in finishing}}
        # A failure from here on is the pair's: the error names the record whose value failed.
        ids = {s: r.id for s, r in records.items()}
        paired = replace(action, ids=ids)
        if queue and intent_id is not None and changes and {c.system for c in changes} == {source}:
            written = {c.field: c.new for c in changes}
            await self.state.save_link(
                self.entity,
                records["webcrm"].id,
                records["fortnox"].id,
                _partial(result.base, sent, {source: written}, {source}),
                intent_id=intent_id,
            )
            self.writebacks.put(WriteBack(paired, source, records, written, result.base, conflicts))
        else:
            try:
                await self.settle(
                    records, changes, result.base, old_base, conflicts, intent_id=intent_id
                )
            except WriteFailed as failed:
                if isinstance(failed.error, STOPPING):
                    raise failed.error from None
                return await self.failed(paired, other_system(failed.target), failed.error)
        return self.outcome(action, RecordStatus.SYNCED, ids=ids)

    def _overwritten(self, change: FieldChange) -> ConflictReport:
        """The conflict recording that finishing a create replaces ``change.old`` in its
        system with what was sent, which both sides then hold."""
        values = {change.system: change.old, other_system(change.system): change.new}
        policy = self.spec.rules[change.field].policy
        winner = other_system(change.system)
        return ConflictReport(
            change.field, values["webcrm"], values["fortnox"], None, policy, winner
        )

    async def settle(
        self,
        records: Mapping[System, SourceRecord],
        changes: Sequence[FieldChange],
        base: Mapping[str, Any],
        old_base: Mapping[str, Any] | None,
        conflicts: Sequence[ConflictReport],
        *,
        intent_id: int | None = None,
        held: bool = False,
    ) -> None:
        """Write ``changes`` to each side, then store the new base (``held``: see
        :attr:`~webcrm_fortnox.engine.ports.Link.held`).

        A freshly created record is linked before anything else is written, so a failure of a
        write-back never loses the pair. When a write fails, the base keeps the old values of
        the fields it carried, so the next run sends them again; the other fields' new base is
        kept, so nothing that did sync is sent twice.
        """
        webcrm, fortnox = records["webcrm"].id, records["fortnox"].id
        by_target: dict[System, dict[str, Any]] = {s: {} for s in SYSTEMS}
        for change in changes:
            by_target[change.system][change.field] = change.new
        pending = {s for s in SYSTEMS if by_target[s]}
        # Conflicts settled by writes are stored before the writes: a crash after the losing
        # side was overwritten would otherwise leave both sides equal and the loss unrecorded.
        early = bool(conflicts) and bool(pending)
        if intent_id is not None or early:
            await self.state.save_link(
                self.entity,
                webcrm,
                fortnox,
                _partial(base, old_base, by_target, pending),
                intent_id=intent_id,
                conflicts=conflicts,
                resolve_errors=intent_id is not None,
            )
            conflicts = ()  # stored: not again below
        for target in SYSTEMS:
            if not by_target[target]:
                continue
            try:
                await self.sources[target].update(
                    records[target].id, by_target[target], records[target]
                )
            except ApiError as error:
                await self.state.save_link(
                    self.entity,
                    webcrm,
                    fortnox,
                    _partial(base, old_base, by_target, pending),
                    conflicts=conflicts,
                    resolve_errors=False,
                )
                raise WriteFailed(target, error) from error
            pending.discard(target)
        await self.state.save_link(
            self.entity, webcrm, fortnox, base, conflicts=conflicts, held=held
        )


def _not_from_vendor(error: ApiError) -> bool:
    """Whether ``error`` was raised here, before sending: no status, code or vendor message."""
    return error.status is None and error.code is None and error.vendor_message is None


def _partial(
    base: Mapping[str, Any],
    old_base: Mapping[str, Any] | None,
    by_target: Mapping[System, Mapping[str, Any]],
    pending: set[System],
) -> dict[str, Any]:
    """The base to keep while the writes to ``pending`` systems have not happened."""
    partial = dict(base)
    for system in pending:
        for name in by_target[system]:
            if old_base is not None and name in old_base:
                partial[name] = old_base[name]
            else:
                partial.pop(name, None)
    return partial
