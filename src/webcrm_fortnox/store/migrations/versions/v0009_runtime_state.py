"""The runtime's state in the store: cycles with ids, excluded records as rows, schedules.

- ``cycles``: every sync of a tenant (scheduled, triggered, ``sync --once``, ``retry``) with its
  trigger, start and end, outcome and counts per entity, so that ``status`` reads them instead
  of putting cycles together from the run log.
- ``excluded_records``: one row per record excluded by configuration, dropped as soon as the
  record syncs. Replaces the ``excluded`` set in ``service_state``, which kept a one-sided key
  (``12|``) after the pair was linked (``12|1001``); the sets are moved into rows, so such a key
  goes with the record's next sync.
- ``tenant_schedules``: each tenant's next cycle and next full reconciliation, its failures in
  a row and the backoff's next try, and whether it is paused (who paused it, why), so that a
  restarted ``run`` continues the schedule instead of starting every tenant at once; and a
  lease (owner, until when) so that two processes never sync one tenant at once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(200), nullable=False)


def upgrade() -> None:
    op.create_table(
        "cycles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("trigger", sa.String(50), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", STAMP, nullable=False),
        sa.Column("finished_at", STAMP, nullable=True),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=True),
    )
    op.create_index("ix_cycles_tenant", "cycles", ["tenant", "id"])
    op.create_table(
        "excluded_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("webcrm_id", sa.String(100), nullable=True),
        sa.Column("fortnox_id", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("updated_at", STAMP, nullable=False),
    )
    op.create_index(
        "ix_excluded_records_webcrm", "excluded_records", ["tenant", "entity", "webcrm_id"]
    )
    op.create_index(
        "ix_excluded_records_fortnox", "excluded_records", ["tenant", "entity", "fortnox_id"]
    )
    op.create_table(
        "tenant_schedules",
        _tenant(),
        sa.Column("next_cycle_at", STAMP, nullable=True),
        sa.Column("next_full_at", STAMP, nullable=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_at", STAMP, nullable=True),
        sa.Column("paused", sa.String(30), nullable=True),
        sa.Column("paused_by", sa.String(100), nullable=True),
        sa.Column("paused_reason", sa.Text, nullable=True),
        sa.Column("paused_tokens", sa.String(100), nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", STAMP, nullable=True),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_tenant_schedules"),
    )
    _move_excluded_sets()


def _move_excluded_sets() -> None:
    """Each tenant's ``excluded`` set (``entity`` → ``"webcrm id|fortnox id"``) into rows."""
    state = sa.table(
        "service_state",
        sa.column("tenant"),
        sa.column("key"),
        sa.column("value"),
        sa.column("updated_at"),
    )
    rows = sa.table(
        "excluded_records",
        *(sa.column(name) for name in ("tenant", "entity", "webcrm_id", "fortnox_id")),
        sa.column("updated_at"),
    )
    bind = op.get_bind()
    found = bind.execute(
        sa.select(state.c.tenant, state.c.value, state.c.updated_at).where(
            state.c.key == "excluded"
        )
    ).all()
    for tenant, value, updated_at in found:
        for entity, keys in (json.loads(value) if value else {}).items():
            for key in keys:
                webcrm_id, _, fortnox_id = str(key).partition("|")
                bind.execute(
                    sa.insert(rows).values(
                        tenant=tenant,
                        entity=entity,
                        webcrm_id=webcrm_id or None,
                        fortnox_id=fortnox_id or None,
                        updated_at=updated_at,
                    )
                )
    bind.execute(sa.delete(state).where(state.c.key == "excluded"))


def downgrade() -> None:
    op.drop_table("tenant_schedules")
    op.drop_table("excluded_records")
    op.drop_table("cycles")
