"""The entity of each run in the run log.

A tenant's sync is one run per entity (customers, then articles, then documents); knowing which
entity a run synced lets ``status`` put a one-off sync's runs together as one cycle and show its
counts per entity. Runs logged before this revision have none.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("entity", sa.String(50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("entity")
