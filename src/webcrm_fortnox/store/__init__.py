"""The state store: links, base snapshots, cursors, intents, errors, conflicts, matches, runs.

SQLAlchemy Core on SQLite (default) or PostgreSQL, migrated by Alembic when opened::

    db = await StateDatabase.open("sqlite:///webcrm-fortnox.db")
    state = db.tenant("acme")        # implements webcrm_fortnox.engine.ports.StateStore
"""

from webcrm_fortnox.store.database import StoreUrlError, async_url
from webcrm_fortnox.store.state import StateDatabase, TenantState

__all__ = ["StateDatabase", "StoreUrlError", "TenantState", "async_url"]
