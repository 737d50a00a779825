"""Fortnox's change feed as the state store keeps it, for the feed and the syncs it wakes.

- **Connections** (``feed_connections``): per integration (client id), how many times its
  connection has subscribed, and whether it is live now.
- **Members** (``feed_members``): per tenant, how many times it has joined the subscription
  (its *epoch*), whether it is a member now, and the epoch in which a sync listed its Fortnox
  changes while the connection was live: from then until it leaves, the feed's announcements
  are every change. A connection that drops (or a service that restarts) and subscribes again
  from the stored offsets of every topic replays what it missed, so its members keep their
  epoch; one that cannot (a topic without an offset) starts a new epoch for each.
- **Announcements** (``feed_announcements``): per tenant, topic and record, what the feed
  announced and no completed sync has read yet; a re-announcement bumps the row's version, so
  a sync that read an older version leaves the newer one to the next sync.

The feed writes an announcement before its offset is stored, so neither a restart nor a sync
in another process loses one. A live connection's row is refreshed every :data:`HEARTBEAT`
seconds; one not refreshed for :data:`STALE_AFTER` counts as lost (its process was killed, or
a service now runs without the feed), so nobody relies on a feed that no longer runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from webcrm_fortnox.store import schema as t
from webcrm_fortnox.store.state import StateDatabase
from webcrm_fortnox.store.upsert import upsert

#: Seconds between refreshes of a live connection's row.
HEARTBEAT = 20.0
#: A live connection's row not refreshed for this long counts as lost.
STALE_AFTER = timedelta(seconds=3 * HEARTBEAT)


@dataclass(frozen=True)
class FeedSnapshot:
    """What the feed has said about one tenant, as a sync starts.

    Attributes:
        live: the tenant is a member of its integration's subscription, which is live.
        epoch: its current epoch (see the module docstring).
        covered: a sync has listed its changes in this epoch: the announcements are all.
        announced: topic → the record numbers announced and not yet settled.
        versions: (topic, number) → the version read, to settle exactly that.
    """

    live: bool = False
    epoch: int | None = None
    covered: bool = False
    announced: Mapping[str, frozenset[str]] = field(default_factory=dict)
    versions: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @property
    def vouched(self) -> bool:
        """Whether the announcements are every Fortnox change since the last listing."""
        return self.live and self.covered


class FeedStore:
    """The change-feed tables of a :class:`StateDatabase`."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    async def connection(self, client_id: str, *, live: bool) -> int:
        """Record that the integration's connection subscribed (``live``) or was lost; the
        connection's generation (counted up by each subscription)."""
        table = t.feed_connections
        now = self.db.clock()
        async with self.db.engine.begin() as conn:
            bump = table.c.generation + 1 if live else table.c.generation
            await upsert(
                conn,
                table,
                {"client_id": client_id},
                {"generation": int(live), "live": live, "updated_at": now},
                updates={"generation": bump, "live": live, "updated_at": now},
            )
            query = sa.select(table.c.generation).where(table.c.client_id == client_id)
            return int((await conn.execute(query)).scalar_one())

    async def beat(self, client_id: str) -> None:
        """The integration's connection is still live (see :data:`HEARTBEAT`)."""
        table = t.feed_connections
        async with self.db.engine.begin() as conn:
            await conn.execute(
                sa.update(table)
                .where(table.c.client_id == client_id, table.c.live.is_(True))
                .values(updated_at=self.db.clock())
            )

    async def generation(self, client_id: str) -> tuple[int, bool] | None:
        """The integration's connection generation and whether it is live; ``None``: never."""
        table = t.feed_connections
        query = sa.select(table.c.generation, table.c.live).where(table.c.client_id == client_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (int(row.generation), bool(row.live))

    async def resumed(self, tenant: str, client_id: str) -> bool:
        """Whether the tenant is a member of the integration's subscription still, so that a
        resubscription replaying from the stored offsets continues its epoch."""
        table = t.feed_members
        query = sa.select(table.c.tenant).where(
            table.c.tenant == tenant, table.c.client_id == client_id, table.c.live.is_(True)
        )
        async with self.db.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def joined(self, tenant: str, client_id: str) -> int:
        """The tenant was subscribed afresh (a new epoch, not yet covered); its epoch."""
        table = t.feed_members
        now = self.db.clock()
        async with self.db.engine.begin() as conn:
            await upsert(
                conn,
                table,
                {"tenant": tenant},
                {"client_id": client_id, "epoch": 1, "live": True, "updated_at": now},
                updates={
                    "client_id": client_id,
                    "epoch": table.c.epoch + 1,
                    "live": True,
                    "updated_at": now,
                },
            )
            query = sa.select(table.c.epoch).where(table.c.tenant == tenant)
            return int((await conn.execute(query)).scalar_one())

    async def left(self, tenant: str) -> None:
        """The tenant left the subscription: what the feed announces for it is not kept."""
        table = t.feed_members
        async with self.db.engine.begin() as conn:
            await conn.execute(
                sa.update(table)
                .where(table.c.tenant == tenant)
                .values(live=False, updated_at=self.db.clock())
            )

    async def announce(
        self,
        tenant: str,
        topic: str,
        number: str,
        *,
        within: Callable[[AsyncConnection], Awaitable[object]] | None = None,
    ) -> None:
        """The feed announced a change of record ``number`` of ``topic`` for ``tenant``;
        ``within`` runs in the same transaction (it defers the sync that reads it)."""
        table = t.feed_announcements
        now = self.db.clock()
        async with self.db.engine.begin() as conn:
            await upsert(
                conn,
                table,
                {"tenant": tenant, "topic": topic, "number": number},
                {"version": 1, "announced_at": now},
                updates={"version": table.c.version + 1, "announced_at": now},
            )
            if within is not None:
                await within(conn)

    async def snapshot(self, tenant: str) -> FeedSnapshot:
        """The tenant's membership and unsettled announcements, read together."""
        members, notes, connections = t.feed_members, t.feed_announcements, t.feed_connections
        query = (
            sa.select(
                members,
                connections.c.live.label("connected"),
                connections.c.updated_at.label("connection_seen"),
            )
            .select_from(members)
            .outerjoin(connections, connections.c.client_id == members.c.client_id)
            .where(members.c.tenant == tenant)
        )
        async with self.db.engine.connect() as conn:
            member = (await conn.execute(query)).first()
            rows = await conn.execute(
                sa.select(notes.c.topic, notes.c.number, notes.c.version).where(
                    notes.c.tenant == tenant
                )
            )
            versions = {(row.topic, row.number): int(row.version) for row in rows}
        announced: dict[str, set[str]] = {}
        for topic, number in versions:
            announced.setdefault(topic, set()).add(number)
        frozen = {topic: frozenset(numbers) for topic, numbers in announced.items()}
        if member is None:
            return FeedSnapshot(announced=frozen, versions=versions)
        connected = bool(member.connected) and (
            member.connection_seen is not None
            and member.connection_seen >= self.db.clock() - STALE_AFTER
        )
        return FeedSnapshot(
            live=bool(member.live) and connected,
            epoch=int(member.epoch),
            covered=member.covered_epoch is not None and member.covered_epoch == member.epoch,
            announced=frozen,
            versions=versions,
        )

    async def settle(self, tenant: str, snapshot: FeedSnapshot, *, listed: bool) -> None:
        """A sync that started from ``snapshot`` completed: the announcements it read are done,
        and, when it listed Fortnox's changes while the tenant was subscribed, its epoch is
        covered (unless the tenant left or rejoined meanwhile)."""
        notes, members = t.feed_announcements, t.feed_members
        async with self.db.engine.begin() as conn:
            for (topic, number), version in snapshot.versions.items():
                await conn.execute(
                    sa.delete(notes).where(
                        notes.c.tenant == tenant,
                        notes.c.topic == topic,
                        notes.c.number == number,
                        notes.c.version == version,
                    )
                )
            if listed and snapshot.live and snapshot.epoch is not None:
                await conn.execute(
                    sa.update(members)
                    .where(
                        members.c.tenant == tenant,
                        members.c.epoch == snapshot.epoch,
                        members.c.live.is_(True),
                    )
                    .values(covered_epoch=snapshot.epoch, updated_at=self.db.clock())
                )
