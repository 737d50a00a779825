"""Running something for every tenant of a configuration, each isolated from the others.

Every tenant gets its own clients (from the process's :class:`Connector`) and its own view of
the shared state database; one tenant failing (credentials, an unreachable system, even a
defect) never stops the others, and tenants run concurrently up to a bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from webcrm_fortnox.config.models import Config, TenantConfig
from webcrm_fortnox.service.connections import Connector, NotConnectedError, TenantClients
from webcrm_fortnox.service.runner import TenantRun
from webcrm_fortnox.service.vault import TokenKeyError
from webcrm_fortnox.store import StateDatabase, TenantState
from webcrm_fortnox.store.database import create_engine
from webcrm_fortnox.store.service import ServiceStore

log = logging.getLogger(__name__)

#: Alembic's table, there once the state tables were created.
MIGRATION_TABLE = "alembic_version"

#: Tenants run at once by one command; each keeps under its own vendors' rate limits.
DEFAULT_CONCURRENCY = 8

TenantTask = Callable[[TenantConfig, TenantState, TenantClients], Awaitable[TenantRun]]


class UnknownTenantError(LookupError):
    """``--tenant`` names no tenant of the configuration."""


class StateStoreError(Exception):
    """The state store could not be opened; ``str()`` says which and why, on one line and
    without the password, e.g. ``cannot open the state store
    postgresql+psycopg://sync:***@db:5432/sync: connection refused``."""


class NoStateStoreError(StateStoreError):
    """A report was asked of a state store that does not exist yet (nothing synced into it)."""


def select_tenants(config: Config, name: str | None) -> list[TenantConfig]:
    """The tenants a command acts on: the one named, or all of them.

    Raises:
        UnknownTenantError: no tenant has that name.
    """
    if name is None:
        return list(config.tenant)
    try:
        return [config.tenant_named(name)]
    except KeyError:
        known = ", ".join(t.name for t in config.tenant) or "none"
        raise UnknownTenantError(f"no tenant named {name!r} (tenants: {known})") from None


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def shown_url(url: str) -> str:
    """``url`` as it may be shown: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has no password to hide either
        return url


#: What the PostgreSQL driver says before its reason that the message says already.
_SERVER_PREFIX = re.compile(
    r'^(connection failed: )?(connection to server at "[^"]*"(, port \d+)? failed: )?'
    r"((FATAL|ERROR):\s+)?"
)


def _why(error: Exception, url: str) -> str:
    """The driver's own reason in one line: its first, without SQLAlchemy's wrapping and link,
    what the address says already, or the password (should a driver echo it)."""
    orig = getattr(error, "orig", None)
    cause = orig if isinstance(orig, BaseException) else error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    reason = _SERVER_PREFIX.sub("", lines[0]) if lines else ""
    try:
        password = make_url(url).password
    except Exception:  # an unparsable URL has no password to hide either
        password = None
    if password:
        reason = reason.replace(str(password), "***")
    if not reason:
        return type(cause).__name__
    return reason[:1].lower() + reason[1:]


async def _holds_state(url: str) -> bool:
    """Whether the database at ``url`` has the state tables (a sync has migrated it)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return bool(
                await conn.run_sync(lambda sync: sa.inspect(sync).has_table(MIGRATION_TABLE))
            )
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_state(
    url: str, *, read_only: bool = False, existing: bool = False
) -> AsyncIterator[StateDatabase]:
    """The state database at ``url``, migrated to the newest schema.

    Args:
        url: the ``[state] url`` of the configuration.
        read_only: for commands that must write nothing (``plan``): a SQLite file that does not
            exist yet is not created; an empty throwaway database stands in for it.
        existing: for commands that report what the store holds (``status``, ``errors``): a
            SQLite file that does not exist, or a database without the state tables, is an
            error, not an empty store (it is most likely the wrong one).

    Raises:
        StateStoreError: it cannot be opened, or ``existing`` and it does not exist.
    """
    target = url
    scratch: tempfile.TemporaryDirectory[str] | None = None
    sqlite_file = _sqlite_file(url)
    if existing and sqlite_file is not None and not sqlite_file.exists():
        raise NoStateStoreError(
            f"no state store at {sqlite_file}: nothing has synced into it yet (`sync --once` "
            "or `run` creates it; a relative path is read from the configuration file's folder)"
        )
    if read_only and sqlite_file is not None and not sqlite_file.exists():
        scratch = tempfile.TemporaryDirectory(prefix="webcrm-fortnox-plan-")
        target = f"sqlite:///{os.path.join(scratch.name, 'state.db')}"
    try:
        try:
            empty = existing and sqlite_file is None and not await _holds_state(url)
            db = None if empty else await StateDatabase.open(target)
        except Exception as error:
            raise StateStoreError(
                f"cannot open the state store {shown_url(url)}: {_why(error, url)}"
            ) from error
        if db is None:
            raise NoStateStoreError(
                f"no state store in {shown_url(url)}: it holds no sync state yet (`sync --once` or "
                "`run` creates it)"
            )
        try:
            yield db
        finally:
            await db.close()
    finally:
        if scratch is not None:
            scratch.cleanup()


async def run_tenant(
    tenant: TenantConfig, db: StateDatabase, connector: Connector, task: TenantTask
) -> TenantRun:
    """Run ``task`` for one tenant with its own clients and state; never raises for it."""
    try:
        vault = connector.vault(ServiceStore(db))
        async with connector.clients(tenant, vault=vault, handover=db) as clients:
            return await task(tenant, db.tenant(tenant.name), clients)
    except (NotConnectedError, TokenKeyError) as error:
        return TenantRun(tenant.name, message=str(error))
    except Exception as error:
        # A defect in one tenant's run must not take the others down; it is logged in full.
        log.exception("tenant run failed", extra={"tenant": tenant.name})
        return TenantRun(tenant.name, message=f"internal error: {type(error).__name__}: {error}")


async def run_tenants(
    tenants: Sequence[TenantConfig],
    db: StateDatabase,
    connector: Connector,
    task: TenantTask,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[TenantRun]:
    """Run ``task`` for every tenant, at most ``concurrency`` at once; results in input order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(tenant: TenantConfig) -> TenantRun:
        async with gate:
            return await run_tenant(tenant, db, connector, task)

    return list(await asyncio.gather(*(one(tenant) for tenant in tenants)))
