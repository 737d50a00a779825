"""Record errors say why a record is not synced: a failure, incomplete, or an ambiguous match.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_errors") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="failure"))


def downgrade() -> None:
    with op.batch_alter_table("record_errors") as batch:
        batch.drop_column("kind")
