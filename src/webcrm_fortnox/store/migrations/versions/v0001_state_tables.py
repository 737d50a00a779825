"""The state tables: links with base snapshots, cursors, intents, errors, conflicts, matches, runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# JSON is kept as text and timestamps as aware datetimes (see store/schema.py's type decorators).
JSON_TEXT = sa.Text
STAMP = sa.DateTime(timezone=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(200), nullable=False)


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("webcrm_id", sa.String(100), nullable=False),
        sa.Column("fortnox_id", sa.String(100), nullable=False),
        sa.Column("base", JSON_TEXT, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.UniqueConstraint("tenant", "entity", "webcrm_id", name="uq_links_webcrm"),
        sa.UniqueConstraint("tenant", "entity", "fortnox_id", name="uq_links_fortnox"),
    )
    op.create_table(
        "cursors",
        _tenant(),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("value", sa.String(200), nullable=True),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "system", "entity", name="pk_cursors"),
    )
    op.create_table(
        "intents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("target", sa.String(20), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("payload", JSON_TEXT, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("finished_at", STAMP, nullable=True),
    )
    op.create_index("ix_intents_pending", "intents", ["tenant", "entity", "state"])
    op.create_table(
        "record_errors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("record_id", sa.String(100), nullable=False),
        sa.Column("field", sa.String(100), nullable=True),
        sa.Column("vendor_code", sa.String(50), nullable=True),
        sa.Column("vendor_message", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_seen", STAMP, nullable=False),
        sa.Column("last_seen", STAMP, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
    )
    op.create_index(
        "ix_record_errors_record",
        "record_errors",
        ["tenant", "entity", "system", "record_id", "state"],
    )
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("link_id", sa.Integer, nullable=False),
        sa.Column("webcrm_id", sa.String(100), nullable=False),
        sa.Column("fortnox_id", sa.String(100), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("webcrm_value", JSON_TEXT, nullable=True),
        sa.Column("fortnox_value", JSON_TEXT, nullable=True),
        sa.Column("base_value", JSON_TEXT, nullable=True),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("resolution", sa.String(20), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("resolved_at", STAMP, nullable=True),
    )
    op.create_index("ix_conflicts_tenant", "conflicts", ["tenant", "entity", "resolved_at"])
    op.create_table(
        "match_decisions",
        _tenant(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("webcrm_id", sa.String(100), nullable=False),
        sa.Column("fortnox_id", sa.String(100), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("decided_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "entity", "webcrm_id", "fortnox_id", name="pk_match"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", STAMP, nullable=False),
        sa.Column("finished_at", STAMP, nullable=True),
        sa.Column("counts", JSON_TEXT, nullable=False),
        sa.Column("message", sa.Text, nullable=True),
    )
    op.create_index("ix_runs_tenant", "runs", ["tenant", "id"])


def downgrade() -> None:
    for index, table in (
        ("ix_runs_tenant", "runs"),
        ("ix_conflicts_tenant", "conflicts"),
        ("ix_record_errors_record", "record_errors"),
        ("ix_intents_pending", "intents"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "runs",
        "match_decisions",
        "conflicts",
        "record_errors",
        "intents",
        "cursors",
        "links",
    ):
        op.drop_table(table)
