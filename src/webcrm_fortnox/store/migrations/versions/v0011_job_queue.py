"""Procrastinate's job tables, for ``webcrm-fortnox worker`` (PostgreSQL only).

At scale, tenants' syncs run as Procrastinate jobs in the state store's own PostgreSQL database
(see :mod:`webcrm_fortnox.store.job_queue`); this installs Procrastinate's schema beside the
state tables, in the same schema. SQLite stores (the embedded ``run``) get nothing.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from webcrm_fortnox.store import job_queue

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        job_queue.install(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        job_queue.drop(bind)
