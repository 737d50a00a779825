"""Change-feed state and rate-limit windows, kept for the next process.

What Fortnox's change feed has vouched for and announced (the live connection's generation, each
tenant's coverage, announcements not yet synced) lived in the service's memory, so a restart
forgot it and a sync in another process than the feed could not rely on it. Likewise the
vendors' rate-limit windows: the next process syncing a tenant spent a window the last had
already used.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_connections",
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
    )
    op.create_table(
        "feed_members",
        sa.Column("tenant", sa.String(200), primary_key=True),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("covered_epoch", sa.Integer, nullable=True),
        sa.Column("updated_at", STAMP, nullable=False),
    )
    op.create_table(
        "feed_announcements",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(50), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("announced_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "topic", "number", name="pk_feed_announcements"),
    )
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("stamp", sa.String(32), nullable=False),
        sa.Column("times", sa.Text, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
    op.drop_table("feed_announcements")
    op.drop_table("feed_members")
    op.drop_table("feed_connections")
