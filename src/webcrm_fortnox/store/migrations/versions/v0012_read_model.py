"""What a person reviews and asks for: match proposals, admin requests, lag samples.

- ``match_proposals``: the pairs ``match`` proposes (an unambiguous pair, or one candidate pair
  among ambiguous records, sharing a ``candidates`` group), kept with their state (proposed,
  accepted, rejected, chosen among candidates) so that a person can review them before the first
  import instead of having them computed and thrown away.
- ``admin_requests``: what an operator asked for (retry errors, take a side of a conflict,
  decide a match, sync now, pause, …), carried out by whatever runs the tenant, with its outcome;
  a request waits in the table while nothing runs.
- ``lag_samples``: measured propagation lags, so that their percentiles can be read back.
- an index on open errors by tenant, which the fleet's "has errors" filter reads.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(200), nullable=False)


def upgrade() -> None:
    op.create_table(
        "match_proposals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("webcrm_id", sa.String(100), nullable=False),
        sa.Column("fortnox_id", sa.String(100), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("candidates", sa.String(300), nullable=True),
        sa.Column("webcrm_name", sa.Text, nullable=True),
        sa.Column("fortnox_name", sa.Text, nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("proposed_at", STAMP, nullable=False),
        sa.Column("decided_at", STAMP, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.UniqueConstraint(
            "tenant", "entity", "webcrm_id", "fortnox_id", name="uq_match_proposals_pair"
        ),
    )
    op.create_table(
        "admin_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", STAMP, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("done_at", STAMP, nullable=True),
    )
    op.create_index("ix_admin_requests_pending", "admin_requests", ["tenant", "state", "id"])
    op.create_table(
        "lag_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("direction", sa.String(30), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("at", STAMP, nullable=False),
    )
    op.create_index("ix_lag_samples_tenant", "lag_samples", ["tenant", "at"])
    op.create_index("ix_record_errors_open", "record_errors", ["tenant", "state"])


def downgrade() -> None:
    op.drop_index("ix_record_errors_open", table_name="record_errors")
    op.drop_table("lag_samples")
    op.drop_table("admin_requests")
    op.drop_table("match_proposals")
