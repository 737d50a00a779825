"""Alembic environment: runs on the connection the state store hands over (never from a URL)."""

from __future__ import annotations

from alembic import context

from webcrm_fortnox.store.schema import declared, metadata

connection = context.config.attributes["connection"]
# Batch mode lets later migrations alter columns on SQLite, which cannot ALTER most things.
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    include_name=declared,
)
with context.begin_transaction():
    context.run_migrations()
