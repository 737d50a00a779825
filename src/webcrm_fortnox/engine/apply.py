"""Applying a plan's actions one by one, each record's outcome committed on its own.

A failure of one record (the vendor refused it, no reliable answer) is stored as a per-record error
and the run goes on; only an authentication or permission failure stops the run, because every
further call would fail the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from webcrm_fortnox.engine.merge import FieldChange, merge
from webcrm_fortnox.engine.plan import Action, ActionKind, one_sided_action, system_name
from webcrm_fortnox.engine.ports import (
    SYSTEMS,
    ConflictReport,
    EntitySpec,
    ErrorKind,
    ErrorReport,
    Intent,
    IntentState,
    Link,
    MatchVerdict,
    RecordSource,
    SourceRecord,
    StateStore,
    System,
    other_system,
)
from webcrm_fortnox.engine.writeback import WriteBack, WriteBackQueue
from webcrm_fortnox.errors import (
    ApiError,
    AuthError,
    BookedInvoiceError,
    NoAnswer,
    NotFound,
    PermissionDenied,
    TransientError,
    ValidationError,
)

log = logging.getLogger(__name__)

#: How long after a create got no answer a lookup that does not find it may conclude that it
#: never happened, by default (a tenant sets ``unanswered_create_wait_seconds``). A request whose
#: answer was lost (a timeout) can still be carried out by the vendor for a while; sending it
#: again sooner makes a duplicate when it lands.
CREATE_SETTLE = timedelta(minutes=5)


def _utcnow() -> datetime:
    return datetime.now(UTC)


#: Failures that end the tenant's run: every further call would fail the same way.
STOPPING = (AuthError, PermissionDenied)


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


class _WriteFailed(Exception):
    """A write to ``target`` failed; carries the vendor error."""

    def __init__(self, target: System, error: ApiError) -> None:
        super().__init__(str(error))
        self.target = target
        self.error = error


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
        now: Callable[[], datetime] = _utcnow,
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
            failed.append(await self._failed(item.action, other_system(item.target), error))
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
            return await self._apply(action)
        except STOPPING:
            raise
        except _WriteFailed as failed:
            if isinstance(failed.error, STOPPING):
                raise failed.error from None
            if isinstance(failed.error, NotFound) and action.link is not None:
                return await self._partner_gone(action, action.link, failed.target)
            return await self._failed(action, other_system(failed.target), failed.error)
        except ApiError as error:
            return await self._failed(action, action.source or "webcrm", error)

    async def _apply(self, action: Action) -> RecordOutcome:
        kind = action.kind
        if kind is ActionKind.CREATE:
            return await self._create(action)
        if kind is ActionKind.RESOLVE:
            return await self._resolve(action)
        if kind is ActionKind.LINK:
            if action.key != "decision":
                # An automatic pairing is recorded like a person's, for the match review.
                await self.state.save_match_decision(
                    self.entity,
                    _id(action.webcrm_id),
                    _id(action.fortnox_id),
                    MatchVerdict.ACCEPTED,
                    action.key or "",
                )
            eligible = action.records["webcrm"].eligible
            await self._settle(
                action.records,
                action.changes,
                action.base,
                None,
                action.conflicts,
                held=not eligible,
            )
            if not eligible:
                return self._outcome(action, RecordStatus.EXCLUDED, action.reason)
            return self._outcome(action, RecordStatus.SYNCED)
        if kind in (ActionKind.UPDATE, ActionKind.REFRESH, ActionKind.CONFLICT):
            assert action.link is not None
            await self._settle(
                action.records, action.changes, action.base, action.link.base, action.conflicts
            )
            # An update that leaves a manual conflict open still waits for a person.
            waiting = kind is ActionKind.CONFLICT or any(
                c.resolution is None for c in action.conflicts
            )
            status = RecordStatus.CONFLICT if waiting else RecordStatus.SYNCED
            return self._outcome(action, status, action.reason)
        if kind is ActionKind.UNLINK:
            assert action.link is not None
            await self.state.unlink(self.entity, action.link.id)
            return self._outcome(action, RecordStatus.UNLINKED, action.reason)
        if kind is ActionKind.EXCLUDE:
            if action.link is not None and not action.link.held:
                await self.state.hold_link(self.entity, action.link.id)
            if action.clears_errors:
                for system in SYSTEMS:
                    record_id = action.id_on(system)
                    if record_id is not None:
                        await self.state.resolve_errors(self.entity, system, record_id)
            return self._outcome(action, RecordStatus.EXCLUDED, action.reason)
        # REVIEW and SKIP are stored, so that `errors` lists them and a partial read later
        # does not pair or create what a person has to decide.
        source = action.source or "webcrm"
        review = kind is ActionKind.REVIEW
        await self.state.record_error(
            ErrorReport(
                self.entity,
                source,
                _id(action.id_on(source)),
                action.reason or "",
                action.key,
                kind=ErrorKind.AMBIGUOUS if review else ErrorKind.INCOMPLETE,
                name=action.name,
            )
        )
        status = RecordStatus.REVIEW if review else RecordStatus.FAILED
        return self._outcome(action, status, action.reason)

    async def _partner_gone(self, action: Action, link: Link, gone: System) -> RecordOutcome:
        """The record a change was written to no longer exists: unlink, and treat the survivor
        like any record without a partner (deletions do not propagate), as the planner does
        when it reads a partner and finds it gone."""
        await self.state.unlink(self.entity, link.id)
        kept = other_system(gone)
        detail = f"the {system_name(gone)} record is gone; the {system_name(kept)} one is kept"
        survivor = action.records.get(kept)
        if survivor is None:
            return self._outcome(action, RecordStatus.UNLINKED, detail)
        outcome = await self.apply(one_sided_action(self.spec, kept, survivor, lookup_first=True))
        if outcome.detail:
            detail = f"{detail}; {outcome.detail}"
        return RecordOutcome(
            action, outcome.status, outcome.webcrm_id, outcome.fortnox_id, detail, outcome.error
        )

    def _outcome(
        self,
        action: Action,
        status: RecordStatus,
        detail: str | None = None,
        *,
        webcrm_id: str | None = None,
        fortnox_id: str | None = None,
    ) -> RecordOutcome:
        return RecordOutcome(
            action,
            status,
            webcrm_id or action.webcrm_id,
            fortnox_id or action.fortnox_id,
            detail,
        )

    async def _failed(self, action: Action, source: System, error: ApiError) -> RecordOutcome:
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
        record_id = action.id_on(source) or action.id_on(target)
        await self.state.record_error(
            ErrorReport(
                self.entity,
                source,
                _id(record_id),
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

    async def _create(self, action: Action) -> RecordOutcome:
        source = action.source
        assert source is not None
        target = other_system(source)
        record = action.records[source]
        if action.lookup_first:
            # Not read in full this run: a record created from this one may already exist.
            existing = await self.sources[target].find_by_key(record.id)
            if existing is not None:
                return await self._adopt(action, record, existing, None, None)
        intent = await self.state.add_intent(self.entity, target, record.id, record.id, action.base)
        try:
            created = await self.sources[target].create(action.base, record.id)
        except ApiError as error:
            if not isinstance(error, TransientError) or error.not_sent:
                # Refused, or never arrived: nothing was created, nothing to look up later.
                await self.state.finish_intent(intent.id, IntentState.FAILED)
            raise _WriteFailed(target, error) from error
        return await self._adopt(action, record, created, action.base, intent.id, queue=True)

    async def _resolve(self, action: Action) -> RecordOutcome:
        intent = action.intent
        assert intent is not None
        source = other_system(intent.target)
        record = action.records.get(source)
        try:
            found = await self.sources[intent.target].find_by_key(intent.key)
        except ApiError as error:
            raise _WriteFailed(intent.target, error) from error
        if found is None and self.now() - intent.created_at < self.create_settle:
            return await self._still_settling(action, source, intent)
        if found is None:
            # The earlier create never happened: it may be sent now, as a fresh intent.
            await self.state.finish_intent(intent.id, IntentState.FAILED)
            if record is None:
                return self._outcome(action, RecordStatus.UNLINKED, "its source record is gone")
            retry = one_sided_action(self.spec, source, record, lookup_first=False)
            outcome = await self.apply(retry)
            return replace(outcome, action=action)
        if record is None:
            await self.state.finish_intent(intent.id, IntentState.DONE)
            detail = f"created earlier as {found.id}, but its source record is gone: not linked"
            return self._outcome(action, RecordStatus.UNLINKED, detail)
        # A create cut short (the process killed between a delivery and its lines) left the
        # record without part of what was sent: finish it, rather than take the gaps for edits
        # made there and carry them back. Only empty fields or the first of the lines: another
        # value there is a person's edit made since, and is merged like any other.
        finishing = [
            FieldChange(intent.target, name, found.fields[name], value)
            for name, value in intent.payload.items()
            if name in found.fields and _cut_short(found.fields[name], value)
        ]
        return await self._adopt(
            action, record, found, intent.payload, intent.id, finishing=finishing
        )

    async def _still_settling(
        self, action: Action, source: System, intent: Intent
    ) -> RecordOutcome:
        """A create that got no answer a moment ago is not found yet: it may still be under way
        at the vendor (a request whose answer was lost can be carried out later), so nothing is
        sent again until it has had time to land; it stays pending and is looked up next run."""
        after = (intent.created_at + self.create_settle).astimezone(UTC)
        reason = (
            f"an earlier create in {system_name(intent.target)} got no answer and is not found "
            f"yet; it may still be under way there, so it is looked up again, and sent only if "
            f"it never arrived, from {after:%Y-%m-%d %H:%M} UTC on"
        )
        await self.state.record_error(
            ErrorReport(
                self.entity,
                source,
                intent.source_id,
                reason,
                kind=ErrorKind.FAILURE,
                name=action.name,
            )
        )
        return self._outcome(action, RecordStatus.FAILED, reason)

    async def _adopt(
        self,
        action: Action,
        record: SourceRecord,
        created: SourceRecord,
        sent: Mapping[str, Any] | None,
        intent_id: int | None,
        *,
        queue: bool = False,
        finishing: Sequence[FieldChange] = (),
    ) -> RecordOutcome:
        """Link ``record`` with the record created from it, writing back what the target set.

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
        source = action.source
        assert source is not None
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
        paired = replace(action, webcrm_id=records["webcrm"].id, fortnox_id=records["fortnox"].id)
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
                await self._settle(
                    records, changes, result.base, old_base, conflicts, intent_id=intent_id
                )
            except _WriteFailed as failed:
                if isinstance(failed.error, STOPPING):
                    raise failed.error from None
                return await self._failed(paired, other_system(failed.target), failed.error)
        return self._outcome(
            action,
            RecordStatus.SYNCED,
            webcrm_id=records["webcrm"].id,
            fortnox_id=records["fortnox"].id,
        )

    def _overwritten(self, change: FieldChange) -> ConflictReport:
        """The conflict recording that finishing a create replaces ``change.old`` in its
        system with what was sent, which both sides then hold."""
        values = {change.system: change.old, other_system(change.system): change.new}
        policy = self.spec.rules[change.field].policy
        winner = other_system(change.system)
        return ConflictReport(
            change.field, values["webcrm"], values["fortnox"], None, policy, winner
        )

    async def _settle(
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
                raise _WriteFailed(target, error) from error
            pending.discard(target)
        await self.state.save_link(
            self.entity, webcrm, fortnox, base, conflicts=conflicts, held=held
        )


def _cut_short(found: Any, sent: Any) -> bool:
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


def _id(record_id: str | None) -> str:
    assert record_id is not None, "the planner sets the ids an action needs"
    return record_id
