"""The tenant registry: tenants managed with ``webcrm-fortnox tenants`` rather than in TOML.

An integrator running thousands of companies cannot keep a ``[[tenant]]`` table for each in one
file; registered tenants keep the same settings in a row, their secrets encrypted with the key
of the Fortnox tokens.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("secrets", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tenants"),
    )
    op.create_index("ix_tenants_versions", "tenants", ["name", "state", "version"])


def downgrade() -> None:
    op.drop_index("ix_tenants_versions", table_name="tenants")
    op.drop_table("tenants")
