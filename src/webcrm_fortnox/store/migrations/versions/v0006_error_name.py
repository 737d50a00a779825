"""The name of each failing record.

``errors`` and the demo name a failing record by its name (an organisation's, a customer's) as
well as by its id, so that a person can find it without looking the id up. Errors stored before
this revision have none; the next failure of the record fills it in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_errors") as batch:
        batch.add_column(sa.Column("name", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("record_errors") as batch:
        batch.drop_column("name")
