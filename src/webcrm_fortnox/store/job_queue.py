"""Procrastinate's tables in the state store (PostgreSQL only): installed by our migrations.

The job engine that runs tenants' syncs at scale (``webcrm-fortnox worker``) keeps its jobs in
the same PostgreSQL database as the state, in Procrastinate's own tables, types and functions.
They are put there by the product's Alembic migrations, so that ``webcrm-fortnox`` opens (and
upgrades) one store as always and nobody runs ``procrastinate schema --apply`` by hand.

Procrastinate ships its whole schema (``schema.sql``) and, per release that changes it, the
migration files that bring an older schema up to date. Migration 0011 installs the schema of
:data:`SCHEMA_VERSION`; a later Procrastinate whose schema differs brings newer migration files,
and then a product migration applies those (:func:`apply_migrations`), never the whole schema
again. :func:`check_installed_package` refuses, by name, a package whose schema our migrations
do not know, before anything is written.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa

#: The newest of Procrastinate's migration files that our migrations have applied: its schema
#: is the one Procrastinate 3.10 ships.
SCHEMA_VERSION = "03.04.00"
#: Every name Procrastinate gives its tables, types, functions and triggers starts so.
PREFIX = "procrastinate_"
#: How the ``lock`` and ``queueing_lock`` of every tenant's sync jobs begin.
TENANT_LOCK = "tenant:"
#: Procrastinate's job table, as much of it as the read model asks of it (the queue's state
#: per tenant, see :meth:`webcrm_fortnox.store.queries.ReadModel.fleet`).
jobs = sa.table(
    "procrastinate_jobs",
    sa.column("lock", sa.Text),
    sa.column("queueing_lock", sa.Text),
    sa.column("status", sa.Text),
    sa.column("scheduled_at", sa.DateTime(timezone=True)),
)


def tenant_lock(tenant: str) -> str:
    """The Procrastinate ``lock`` and ``queueing_lock`` of a tenant's sync jobs."""
    return f"{TENANT_LOCK}{tenant}"


class JobSchemaError(RuntimeError):
    """The installed Procrastinate expects a schema our migrations do not install."""


def _migration_files() -> list[Path]:
    folder = Path(str(resources.files("procrastinate.sql") / "migrations"))
    return sorted(path for path in folder.glob("*.sql"))


def newest_migration() -> str:
    """The version of the installed Procrastinate's newest schema migration (``03.04.00``)."""
    return _migration_files()[-1].name[:8]


def check_installed_package() -> None:
    """Refuse a Procrastinate whose schema is newer than what our migrations install.

    Raises:
        JobSchemaError: naming both versions and what to do.
    """
    installed = newest_migration()
    if installed != SCHEMA_VERSION:
        raise JobSchemaError(
            f"the installed procrastinate's schema is at migration {installed}, the state "
            f"store's migrations install {SCHEMA_VERSION}: install the procrastinate version "
            "in constraints.txt, or add a migration applying its newer migration files"
        )


def is_job_table(name: str | None) -> bool:
    """Whether a table of the database is Procrastinate's (left out of the state tables)."""
    return name is not None and name.startswith(PREFIX)


def install(bind: sa.Connection) -> None:
    """Create Procrastinate's schema in the connection's current schema (``search_path``).

    Raises:
        JobSchemaError: see :func:`check_installed_package`.
    """
    check_installed_package()
    schema = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
    _script(bind, schema)


def apply_migrations(bind: sa.Connection, after: str, up_to: str) -> None:
    """Apply Procrastinate's migration files newer than ``after``, up to ``up_to`` inclusive
    (for a product migration that follows Procrastinate to a newer schema)."""
    for path in _migration_files():
        if after < path.name[:8] <= up_to:
            _script(bind, path.read_text(encoding="utf-8"))


def drop(bind: sa.Connection) -> None:
    """Remove every Procrastinate object from the connection's current schema."""
    _script(
        bind,
        f"""
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tablename FROM pg_tables
                WHERE schemaname = current_schema() AND tablename LIKE '{PREFIX}%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE '{PREFIX}%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN SELECT t.typname FROM pg_type t
                JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = current_schema() AND t.typname LIKE '{PREFIX}%'
                AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END
        $$;
        """,
    )


def _script(bind: sa.Connection, script: str) -> None:
    """Run a script of many statements as it is (as Procrastinate does, ``%`` doubled: the
    driver reads placeholders in it)."""
    bind.exec_driver_sql(script.replace("%", "%%"))
