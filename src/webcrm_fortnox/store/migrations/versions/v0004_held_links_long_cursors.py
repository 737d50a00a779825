"""Held links, and change cursors of any length.

Links remember that their webCRM record is not eligible (the pair is held, not synced): the
planner takes a linked record absent from its system's change read to be as the last sync left
it, and for a held pair that is not so, so the flag says to read it. A webCRM cursor also lists
the rows its next read will list again, which does not fit in 200 characters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("cursors") as batch:
        batch.alter_column("value", type_=sa.Text, existing_type=sa.String(200))


def downgrade() -> None:
    with op.batch_alter_table("cursors") as batch:
        batch.alter_column("value", type_=sa.String(200), existing_type=sa.Text)
    with op.batch_alter_table("links") as batch:
        batch.drop_column("held")
