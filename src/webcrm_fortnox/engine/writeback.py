"""Write-backs after creates, sent beside the next creates instead of between them.

A record created on one side often has a value to give back to its source: the number Fortnox
gave a customer goes into the organisation's customer-number field. Sent in line, each create
waits for its write-back, and an import runs at the pace of the slower system's rate limit added
to the faster one's. Here the write-backs go to a queue that one task works through while the
applier goes on creating, so each system is kept busy up to its own limit.

Only the requests run beside the applier: every state-store write stays with it (the applier
settles finished write-backs between actions, and waits for all of them before the run's
cursors move). Until its write-back is settled, a pair's link holds the base without the
written fields, so after a crash the next run sends them again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from webcrm_fortnox.engine.ports import ConflictReport, RecordSource, SourceRecord, System

if TYPE_CHECKING:
    from webcrm_fortnox.engine.actions import Action


@dataclass(frozen=True)
class WriteBack:
    """Fields to write to ``record`` on ``target`` after the create of ``action``.

    Attributes:
        action: the create it follows.
        target: the system written to (the created record's source).
        records: both records of the new pair, by system.
        changes: canonical field → value to write to the target's record.
        base: the pair's base once the write is done.
        conflicts: conflicts the create's merge found, recorded with the base.
    """

    action: Action
    target: System
    records: Mapping[System, SourceRecord]
    changes: Mapping[str, Any]
    base: Mapping[str, Any]
    conflicts: Sequence[ConflictReport]


#: A finished write-back, and the exception it raised (``None``: written).
Finished = tuple[WriteBack, Exception | None]


class WriteBackQueue:
    """Sends queued write-backs one at a time, in a task of its own.

    Args:
        sources: the entity's record source per system.
    """

    def __init__(self, sources: Mapping[System, RecordSource]) -> None:
        self.sources = sources
        self._queue: asyncio.Queue[WriteBack] = asyncio.Queue()
        self._finished: list[Finished] = []
        self._task: asyncio.Task[None] | None = None

    def put(self, item: WriteBack) -> None:
        """Queue a write-back (the task starts with the first one)."""
        if self._task is None:
            self._task = asyncio.create_task(self._work())
        self._queue.put_nowait(item)

    def waiting(self) -> int:
        """How many queued write-backs are not finished yet."""
        return self._queue.qsize()

    def finished(self) -> list[Finished]:
        """The write-backs finished since the last call, in order."""
        done, self._finished = self._finished, []
        return done

    async def drain(self) -> list[Finished]:
        """Wait until every queued write-back is finished; returns those not yet taken."""
        if self._task is not None:
            await self._queue.join()
        return self.finished()

    async def close(self) -> None:
        """Stop the task; write-backs still queued are not sent (their pairs keep their old
        base, so the next run sends them)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            record = item.records[item.target]
            try:
                await self.sources[item.target].update(record.id, item.changes, record)
            except Exception as error:  # handed to the applier, which decides what it means
                self._finished.append((item, error))
            else:
                self._finished.append((item, None))
            finally:
                self._queue.task_done()
