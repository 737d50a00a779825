"""Which registered tenants a running service runs, kept in step with the registry by polling.

Each poll reads the registry's names, states and versions (no settings) and says what to start
and what to stop: a tenant registered or resumed since the last poll
starts; one paused, removed or purged stops; one whose settings changed (its version moved)
stops and starts again with the new settings. Only changed rows are decrypted and validated.
A row that cannot be loaded here (an ``env:`` variable this process lacks, the wrong key) or
that names a tenant of the configuration file is not run, and said once per version at ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.service.registry import Registry
from webcrm_fortnox.store.registry import TenantRow, TenantState

log = logging.getLogger(__name__)

#: Seconds between two looks at the registry while ``run`` runs.
DEFAULT_REGISTRY_POLL = 30.0


@dataclass(frozen=True)
class RosterChanges:
    """What to do to match the registry: stop these tenants, then start these."""

    stop: list[str] = field(default_factory=list)
    start: list[TenantConfig] = field(default_factory=list)


class Roster:
    """The registered tenants a service runs, and what changed in the registry since.

    Args:
        registry: the registry to follow.
        fixed: the configuration file's tenants, which the service runs whatever the registry
            says (a registered tenant of the same name is refused).
        only: follow this tenant alone (``run --tenant NAME``).
    """

    def __init__(
        self, registry: Registry, *, fixed: Collection[str] = (), only: str | None = None
    ) -> None:
        self.registry = registry
        self.fixed = frozenset(fixed)
        self.only = only
        #: the version of every registered tenant running, by name
        self.running: dict[str, int] = {}
        self._refused: dict[str, int] = {}

    def _wanted(self, name: str, state: TenantState) -> bool:
        return state is TenantState.ACTIVE and (self.only is None or name == self.only)

    async def changes(self) -> RosterChanges:
        """What to stop and start now; from then on those count as done."""
        versions = {
            name: version
            for name, (state, version) in (await self.registry.store.versions()).items()
            if self._wanted(name, state)
        }
        changes = RosterChanges()
        for name, version in list(self.running.items()):
            if versions.get(name) != version:
                changes.stop.append(name)
                del self.running[name]
        new = [
            name
            for name, version in versions.items()
            if name not in self.running and self._refused.get(name) != version
        ]
        for row in await self.registry.store.rows_named(new) if new else []:
            if not self._wanted(row.name, row.state):
                continue  # changed again since the versions were read: the next poll sees it
            tenant = self._load(row)
            if tenant is None:
                self._refused[row.name] = row.version
                continue
            self._refused.pop(row.name, None)
            self.running[row.name] = row.version
            changes.start.append(tenant)
        return changes

    def _load(self, row: TenantRow) -> TenantConfig | None:
        if row.name in self.fixed:
            log.error(
                "a registered tenant has the name of one in the configuration file; "
                "it is not run (remove one of them)",
                extra={"tenant": row.name},
            )
            return None
        loaded = self.registry.load(row)
        if loaded.config is None:
            log.error(
                "a registered tenant cannot be loaded; it is not run",
                extra={"tenant": row.name, "reason": loaded.problem},
            )
        return loaded.config
