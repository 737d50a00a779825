"""The emulator's state: every webCRM system it serves, their tokens, and the kit's hooks into it.

One process serves several webCRM systems, one per application token; the first is the one the
command line names. Each system keeps its records in its own storage namespace (its token), so
with ``--data FILE`` systems, records and sessions all survive a restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pydantic
from fastapi.responses import Response

from webcrm_fortnox.emulation import Caller, EmulatorKit, Table
from webcrm_fortnox.webcrm.emulator import errors
from webcrm_fortnox.webcrm.emulator.auth import REGISTRY, TokenStore
from webcrm_fortnox.webcrm.emulator.catalogue import KINDS
from webcrm_fortnox.webcrm.emulator.errors import WebcrmError, bad_request
from webcrm_fortnox.webcrm.emulator.hooks import HookDispatcher
from webcrm_fortnox.webcrm.emulator.seed import SeedOptions, seed_demo
from webcrm_fortnox.webcrm.emulator.system import System, SystemSettings

DEFAULT_API_TOKEN = "00000000-0000-4000-8000-000000000001"
SEED_KINDS = ("demo", "empty")


class WebcrmEmulator:
    """The webCRM side of the emulator kit (:class:`~webcrm_fortnox.emulation.EmulatedVendor`).

    Args:
        kit: the shared clock, storage, statistics and faults.
        api_token: the token of the system that always exists.
        seed: what that system starts with when it is new: ``demo`` or ``empty``.
        token_ttl: seconds an access token lasts.
        hooks: the dispatcher of hook calls.
    """

    name = "webcrm"

    def __init__(
        self,
        kit: EmulatorKit,
        *,
        api_token: str = DEFAULT_API_TOKEN,
        seed: str = "demo",
        token_ttl: int = 3600,
        hooks: HookDispatcher | None = None,
    ) -> None:
        self.kit = kit
        self.default_token = api_token
        self.default_seed = _seed_kind(seed)
        self.hooks = hooks or HookDispatcher()
        self.tokens = TokenStore(kit.storage, kit.clock, token_ttl)
        self.systems: dict[str, System] = {}
        registry = kit.storage.table(REGISTRY, "systems")
        for key in registry:
            self._open(SystemSettings.model_validate(registry.get(key)))
        if api_token not in self.systems:
            self._create(SystemSettings(api_token=api_token), self.default_seed, SeedOptions())

    # --- what the routes use -------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> System | None:
        """The system a ``Authorization: Bearer <access token>`` header reaches, if live."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        api_token = self.tokens.holder(token.strip())
        return None if api_token is None else self.systems.get(api_token)

    def system(self, tenant: str | None) -> System:
        """A system by its application token (the default one for ``None``); 404 if unknown."""
        system = self.systems.get(self.default_token if tenant is None else tenant)
        if system is None:
            raise WebcrmError(404, f"No webCRM system has the token {tenant!r}.", "NotFound")
        return system

    def configure(self, tenant: str | None, changes: dict[str, Any]) -> SystemSettings:
        """Change a system's settings (not its token)."""
        system = self.system(tenant)
        if "api_token" in changes:
            raise bad_request("A system's api_token cannot be changed.")
        settings = _settings({**system.settings.model_dump(), **changes})
        system.settings = settings
        self._registry().put(settings.api_token, settings.model_dump())
        return settings

    # --- EmulatedVendor --------------------------------------------------------------------

    def is_api_path(self, path: str) -> bool:
        return True  # the whole host is the API; /_emulator/ never reaches the vendor check

    def identify(self, headers: dict[str, str]) -> Caller | None:
        system = self.authenticate(headers)
        if system is None:
            return None
        # recorded (api.webcrm.com, reference §3.1): the limit is counted per application token
        return Caller(tenant=system.tenant, rate_key=system.tenant)

    def rate_limited(self, retry_after: float) -> Response:
        return errors.rate_limited(retry_after)

    def server_error(self, status: int) -> Response:
        return errors.server_error(status)

    def spurious_unauthorized(self) -> Response:
        return errors.unauthorized()

    def reset(self) -> None:
        """Forget every system and token; the default system starts over with its seed."""
        self.kit.storage.reset()
        self.systems.clear()
        self._create(SystemSettings(api_token=self.default_token), self.default_seed, SeedOptions())

    def seed(self, tenant: str | None, kind: str, options: dict[str, Any]) -> dict[str, Any]:
        """Replace a system's records with ``demo`` data or nothing (settings and tokens stay)."""
        system = self.system(tenant)
        seed_options = _seed_options(options)
        self.kit.storage.drop_namespace(system.tenant)
        fresh = self._open(system.settings)
        return self._fill(fresh, _seed_kind(kind), seed_options)

    def add_tenant(self, options: dict[str, Any]) -> dict[str, Any]:
        """Create a system. Options: the :class:`SystemSettings` fields (``api_token`` is made
        up when absent), ``seed`` (demo|empty) and the :class:`SeedOptions` fields."""
        options = dict(options)
        kind = _seed_kind(str(options.pop("seed", "demo")))
        seed_fields = {k: options.pop(k) for k in list(options) if k in SeedOptions.model_fields}
        if not options.get("api_token"):
            options["api_token"] = _new_token()
        settings = _settings(options)
        if settings.api_token in self.systems:
            raise WebcrmError(409, "A system with this api_token exists.", "Conflict")
        return self._create(settings, kind, _seed_options(seed_fields))

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    # --- internals -------------------------------------------------------------------------

    def _registry(self) -> Table:
        return self.kit.storage.table(REGISTRY, "systems")

    def _open(self, settings: SystemSettings) -> System:
        system = System(settings, self.kit.storage, self.kit.clock, KINDS, self.hooks.announce)
        self.systems[settings.api_token] = system
        return system

    def _create(self, settings: SystemSettings, kind: str, options: SeedOptions) -> dict[str, Any]:
        self._registry().put(settings.api_token, settings.model_dump())
        return self._fill(self._open(settings), kind, options)

    def _fill(self, system: System, kind: str, options: SeedOptions) -> dict[str, Any]:
        if kind == "demo":
            seed_demo(system, options)
        counts = {name: len(collection) for name, collection in system.collections.items()}
        return {"tenant": system.tenant, "api_token": system.tenant, "seed": kind, "counts": counts}


def _new_token() -> str:
    return str(uuid.uuid4())


def _seed_kind(kind: str) -> str:
    if kind not in SEED_KINDS:
        raise bad_request(f"seed must be one of {', '.join(SEED_KINDS)}, not {kind!r}.")
    return kind


def _settings(values: dict[str, Any]) -> SystemSettings:
    try:
        return SystemSettings.model_validate(values)
    except pydantic.ValidationError as exc:
        raise bad_request(f"Invalid system settings: {exc}") from None


def _seed_options(values: dict[str, Any]) -> SeedOptions:
    try:
        return SeedOptions.model_validate(values)
    except pydantic.ValidationError as exc:
        raise bad_request(f"Invalid seed options: {exc}") from None
