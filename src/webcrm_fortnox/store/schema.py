"""The state tables, as SQLAlchemy Core metadata. Every row carries its tenant.

The migrations in ``migrations/versions`` create exactly these tables (and, on PostgreSQL,
Procrastinate's job tables, which :func:`declared` leaves out); a test compares the two.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from webcrm_fortnox.store.job_queue import is_job_table

metadata = sa.MetaData()

_DECIMAL_TAG = "__decimal__"


def _encode(value: Any) -> Any:
    # Decimal survives the round trip exactly: the engine compares base values with ``==`` and
    # Decimal("0.1") != 0.1, so a float would turn a stored base into a phantom change.
    if isinstance(value, Decimal):
        return {_DECIMAL_TAG: str(value)}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_DECIMAL_TAG}:
            return Decimal(value[_DECIMAL_TAG])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class JsonValue(sa.types.TypeDecorator[Any]):
    """JSON text that keeps :class:`~decimal.Decimal` values exact.

    Stored as text on every backend, so both compare and serialise identically.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(_encode(value), sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else _decode(json.loads(value))


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC timestamp on every backend (SQLite keeps no zone, so it is put back)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(200), nullable=False)


links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("entity", sa.String(50), nullable=False),
    sa.Column("webcrm_id", sa.String(100), nullable=False),
    sa.Column("fortnox_id", sa.String(100), nullable=False),
    sa.Column("base", JsonValue, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # the webCRM record is not eligible: the pair is remembered but does not sync (0004)
    sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("tenant", "entity", "webcrm_id", name="uq_links_webcrm"),
    sa.UniqueConstraint("tenant", "entity", "fortnox_id", name="uq_links_fortnox"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    _tenant(),
    sa.Column("system", sa.String(20), nullable=False),
    sa.Column("entity", sa.String(50), nullable=False),
    # a time, or (webCRM) a time and the rows the next read lists again (0004: was 200 chars)
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "system", "entity", name="pk_cursors"),
)

intents = sa.Table(
    "intents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("entity", sa.String(50), nullable=False),
    sa.Column("target", sa.String(20), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("source_id", sa.String(100), nullable=False),
    sa.Column("payload", JsonValue, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Index("ix_intents_pending", "tenant", "entity", "state"),
)

record_errors = sa.Table(
    "record_errors",
    metadata,
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
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, server_default="failure"),
    # the record's name when it failed (an organisation's, a customer's); none before 0006
    sa.Column("name", sa.Text, nullable=True),
    sa.Index("ix_record_errors_record", "tenant", "entity", "system", "record_id", "state"),
    # what the fleet's open-error counts read (0012)
    sa.Index("ix_record_errors_open", "tenant", "state"),
)

conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("entity", sa.String(50), nullable=False),
    # No foreign key: a conflict outlives its link when a record is deleted and unlinked.
    sa.Column("link_id", sa.Integer, nullable=False),
    sa.Column("webcrm_id", sa.String(100), nullable=False),
    sa.Column("fortnox_id", sa.String(100), nullable=False),
    sa.Column("field", sa.String(100), nullable=False),
    sa.Column("webcrm_value", JsonValue, nullable=True),
    sa.Column("fortnox_value", JsonValue, nullable=True),
    sa.Column("base_value", JsonValue, nullable=True),
    sa.Column("policy", sa.String(20), nullable=False),
    sa.Column("resolution", sa.String(20), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Index("ix_conflicts_tenant", "tenant", "entity", "resolved_at"),
)

match_decisions = sa.Table(
    "match_decisions",
    metadata,
    _tenant(),
    sa.Column("entity", sa.String(50), nullable=False),
    sa.Column("webcrm_id", sa.String(100), nullable=False),
    sa.Column("fortnox_id", sa.String(100), nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("decided_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "entity", "webcrm_id", "fortnox_id", name="pk_match"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("mode", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("counts", JsonValue, nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    # the entity the run synced; none on runs logged before 0005
    sa.Column("entity", sa.String(50), nullable=True),
    sa.Index("ix_runs_tenant", "tenant", "id"),
)

# What the long-running service keeps beside the sync state (migration 0003).

tokens = sa.Table(
    "tokens",
    metadata,
    _tenant(),
    sa.Column("system", sa.String(20), nullable=False),
    # Fernet ciphertext: the plain tokens never reach the database.
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "system", name="pk_tokens"),
)

service_state = sa.Table(
    "service_state",
    metadata,
    # A tenant's name, or a pseudo-tenant such as "feed:<client id>" (never a valid tenant name).
    _tenant(),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("value", JsonValue, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "key", name="pk_service_state"),
)

# The tenant registry (migration 0007): tenants managed with ``webcrm-fortnox tenants``.

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("name", sa.String(200), nullable=False),
    # the tenant's ``[[tenant]]`` table without its secrets
    sa.Column("settings", JsonValue, nullable=False),
    # Fernet ciphertext of the secrets (literal values or ``env:NAME`` references)
    sa.Column("secrets", sa.Text, nullable=False),
    # active | paused | removed
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    # bumped by every change, so a running service notices an edited tenant cheaply
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("name", name="pk_tenants"),
    # covers what a running service polls, so the settings are not read each time
    sa.Index("ix_tenants_versions", "name", "state", "version"),
)

# Change-feed state (migration 0008): what Fortnox's feed has vouched for and announced, so that
# a restarted service, or a sync in another process than the feed, knows it.

feed_connections = sa.Table(
    "feed_connections",
    metadata,
    # the integration's client id: one feed connection serves all of its companies
    sa.Column("client_id", sa.String(200), primary_key=True),
    # counts the connection's (re)subscriptions; announcements flow while ``live``
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("live", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

feed_members = sa.Table(
    "feed_members",
    metadata,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("client_id", sa.String(200), nullable=False),
    # counts the tenant's joins of a live subscription; a gap in between may hide changes
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("live", sa.Boolean, nullable=False),
    # the epoch in which a sync listed Fortnox's changes: from then on, announcements are all
    sa.Column("covered_epoch", sa.Integer, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

feed_announcements = sa.Table(
    "feed_announcements",
    metadata,
    _tenant(),
    sa.Column("topic", sa.String(50), nullable=False),
    sa.Column("number", sa.String(100), nullable=False),
    # bumped by every new announcement of the record: a sync settles only the version it read
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("announced_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "topic", "number", name="pk_feed_announcements"),
)

# Rate-limit windows handed from one process to the next (migration 0008).

rate_windows = sa.Table(
    "rate_windows",
    metadata,
    # the limiter's key: Fortnox client id and company, or a digest of a webCRM token
    sa.Column("key", sa.String(200), primary_key=True),
    # names this handover, so that a process counts each one once
    sa.Column("stamp", sa.String(32), nullable=False),
    # wall-clock times (epoch seconds) of the requests in the window when it was handed over
    sa.Column("times", JsonValue, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The runtime's state: cycles, excluded records, each tenant's schedule (migration 0009).

cycles = sa.Table(
    "cycles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    # what started it: "cycle" (scheduled), a trigger ("fortnox feed", …), "once", "retry"
    sa.Column("trigger", sa.String(50), nullable=False),
    sa.Column("mode", sa.String(20), nullable=False),
    # running, completed (some records may have failed), stopped, interrupted (its process
    # ended before it did)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    # per entity, records by outcome
    sa.Column("counts", JsonValue, nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Index("ix_cycles_tenant", "tenant", "id"),
)

excluded_records = sa.Table(
    "excluded_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("entity", sa.String(50), nullable=False),
    # either side may be missing (an organisation excluded before it was ever linked)
    sa.Column("webcrm_id", sa.String(100), nullable=True),
    sa.Column("fortnox_id", sa.String(100), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_excluded_records_webcrm", "tenant", "entity", "webcrm_id"),
    sa.Index("ix_excluded_records_fortnox", "tenant", "entity", "fortnox_id"),
)

tenant_schedules = sa.Table(
    "tenant_schedules",
    metadata,
    _tenant(),
    sa.Column("next_cycle_at", UtcDateTime, nullable=True),
    sa.Column("next_full_at", UtcDateTime, nullable=True),
    # failing syncs in a row, and when the backoff lets the next one run
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retry_at", UtcDateTime, nullable=True),
    # paused: the tenant's state while paused ("reconnect needed", …), who paused it and why
    sa.Column("paused", sa.String(30), nullable=True),
    sa.Column("paused_by", sa.String(100), nullable=True),
    sa.Column("paused_reason", sa.Text, nullable=True),
    # the version of its credentials (settings and stored tokens) when it paused: others
    # (``connect`` ran, the settings were fixed) resume it
    sa.Column("paused_tokens", sa.String(100), nullable=True),
    # the process syncing the tenant, until when (renewed while it syncs): one at a time
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", name="pk_tenant_schedules"),
)

# What a person reviews and asks for (migration 0012).

match_proposals = sa.Table(
    "match_proposals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    sa.Column("entity", sa.String(50), nullable=False),
    sa.Column("webcrm_id", sa.String(100), nullable=False),
    sa.Column("fortnox_id", sa.String(100), nullable=False),
    # the match key that paired them
    sa.Column("key", sa.String(100), nullable=False),
    # ambiguous records: every candidate pair of one ambiguity shares this; none for a pair
    sa.Column("candidates", sa.String(300), nullable=True),
    sa.Column("webcrm_name", sa.Text, nullable=True),
    sa.Column("fortnox_name", sa.Text, nullable=True),
    # proposed, accepted, rejected, chosen (among candidates)
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("proposed_at", UtcDateTime, nullable=False),
    sa.Column("decided_at", UtcDateTime, nullable=True),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.UniqueConstraint(
        "tenant", "entity", "webcrm_id", "fortnox_id", name="uq_match_proposals_pair"
    ),
)

admin_requests = sa.Table(
    "admin_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    # retry, take, accept, reject, choose, import, sync, full sync, pause, resume
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("arguments", JsonValue, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    # pending, running, done, failed
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("outcome", sa.Text, nullable=True),
    # the process carrying it out
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("done_at", UtcDateTime, nullable=True),
    sa.Index("ix_admin_requests_pending", "tenant", "state", "id"),
)

lag_samples = sa.Table(
    "lag_samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant(),
    # fortnox->webcrm or webcrm->fortnox
    sa.Column("direction", sa.String(30), nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_lag_samples_tenant", "tenant", "at"),
)


def declared(name: str | None, type_: str, parent_names: Any) -> bool:
    """Whether Alembic compares a database object with these tables (its ``include_name``):
    all but Procrastinate's, which migration 0011 installs from Procrastinate's own schema."""
    return not (type_ == "table" and is_job_table(name))
