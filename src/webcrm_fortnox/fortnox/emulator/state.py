"""The emulator's state: companies (tenants), OAuth clients, tokens and the change feed.

:class:`FortnoxEmulator` is what the emulation kit talks to (it implements ``EmulatedVendor``) and
what every route reaches through ``app.state.fortnox``. Each company is a :class:`Tenant`: a
namespace of the kit's storage (named by its TenantId, which is also its ``DatabaseNumber``) with
its own tables, number series and change-feed offsets. Nothing is kept outside these objects, so
one process can hold thousands of companies.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi.responses import HTMLResponse, Response

from webcrm_fortnox.emulation import Caller, EmulatorKit, Table
from webcrm_fortnox.fortnox.emulator import errors
from webcrm_fortnox.fortnox.emulator.tokens import Tokens
from webcrm_fortnox.fortnox.emulator.topics import STOCKHOLM, EventLog

REGISTRY = "_emulator"

# reference §1.4 (softwerkab Auth/Scope.cs)
ALL_SCOPES = (
    "archive",
    "article",
    "bookkeeping",
    "companyinformation",
    "connectfile",
    "costcenter",
    "currency",
    "customer",
    "inbox",
    "invoice",
    "noxfinansinvoice",
    "offer",
    "order",
    "payment",
    "price",
    "print",
    "profile",
    "project",
    "salary",
    "settings",
    "supplier",
    "supplierinvoice",
    "timereporting",
)


class Tenant:
    """One company: its settings and its tables in the kit's storage."""

    def __init__(self, emulator: FortnoxEmulator, tenant_id: int, settings: dict[str, Any]) -> None:
        self.emulator = emulator
        self.id = tenant_id
        self.namespace = str(tenant_id)
        self.settings = settings

    def table(self, name: str) -> Table:
        return self.emulator.kit.storage.table(self.namespace, name)

    def next_number(self, series: str, start: int = 1) -> int:
        return self.emulator.kit.storage.next_number(self.namespace, series, start)

    @property
    def api_licence(self) -> bool:
        return bool(self.settings.get("api_licence", True))

    @property
    def scopes(self) -> tuple[str, ...]:
        granted = self.settings.get("scopes")
        return ALL_SCOPES if granted is None else tuple(granted)

    @property
    def booked_invoice_code(self) -> int:
        """The code answered for changing a booked invoice (unconfirmed; reference §5.5)."""
        return int(self.settings.get("booked_invoice_code", errors.COMPLETED_DOCUMENT))

    def now(self) -> float:
        return self.emulator.kit.clock.timestamp()

    def today(self) -> date:
        """Today in Sweden, by the emulated clock."""
        return datetime.fromtimestamp(self.now(), STOCKHOLM).date()

    def publish(self, topic: str, event_type: str, entity_id: str) -> None:
        self.emulator.events.publish(self.id, topic, event_type, entity_id)


class FortnoxEmulator:
    """The vendor side of the kit, and the root of all state.

    Args:
        kit: the shared emulator kit (clock, storage, faults, statistics).
        client_id: the OAuth client known from the start.
        client_secret: its secret.
        tenant_id: the default company, created at start when storage does not hold it yet.
        seed: ``demo`` or ``empty`` data for that company.
        token_ttl: access-token lifetime in seconds.
    """

    name = "fortnox"

    def __init__(
        self,
        kit: EmulatorKit,
        *,
        client_id: str,
        client_secret: str,
        tenant_id: int,
        seed: str,
        token_ttl: int,
    ) -> None:
        self.kit = kit
        self.default_tenant_id = tenant_id
        self.default_seed = seed
        self.default_client = (client_id, client_secret)
        self.tokens = Tokens(kit.storage, kit.clock, token_ttl)
        self.events = EventLog(kit.storage, kit.clock)
        self._tenants: dict[int, Tenant] = {}
        self._load()

    # -- tenants and clients --------------------------------------------------------------

    @property
    def _registry(self) -> Table:
        return self.kit.storage.table(REGISTRY, "tenants")

    @property
    def clients(self) -> Table:
        return self.kit.storage.table(REGISTRY, "clients")

    def _load(self) -> None:
        registry = self._registry
        for key in registry:
            self._tenants[int(key)] = Tenant(self, int(key), registry.get(key) or {})
        client_id, secret = self.default_client
        if client_id not in self.clients:
            self.clients.put(client_id, {"secret": secret})
        if self.default_tenant_id not in self._tenants:
            self.add_tenant({"tenant_id": self.default_tenant_id, "seed": self.default_seed})

    def tenant(self, tenant_id: int) -> Tenant | None:
        return self._tenants.get(tenant_id)

    def tenants(self) -> list[Tenant]:
        return list(self._tenants.values())

    def client_secret(self, client_id: str) -> str | None:
        row = self.clients.get(client_id)
        return None if row is None else str(row["secret"])

    def add_tenant(self, options: dict[str, Any]) -> dict[str, Any]:
        """Create a company (``POST /_emulator/tenants``).

        Options: ``tenant_id`` (default: next free), ``company_name``, ``organisation_number``,
        ``seed`` (``demo``/``empty``, default ``empty``), ``api_licence`` (false → every call
        answers 2001103), ``scopes`` (the consented scopes; others answer 2000663),
        ``booked_invoice_code``, and ``client_id``/``client_secret`` to register another client.
        """
        from webcrm_fortnox.fortnox.emulator import seed as seeding

        requested = options.get("tenant_id")
        tenant_id = int(requested) if requested is not None else self._next_tenant_id()
        if tenant_id in self._tenants:
            raise ValueError(f"tenant {tenant_id} exists")
        settings: dict[str, Any] = {
            key: options[key]
            for key in (
                "company_name",
                "organisation_number",
                "api_licence",
                "scopes",
                "booked_invoice_code",
            )
            if key in options
        }
        settings.setdefault("company_name", f"Företaget {tenant_id} AB")
        self._registry.put(str(tenant_id), settings)
        tenant = self._tenants[tenant_id] = Tenant(self, tenant_id, settings)
        seeding.seed_tenant(tenant, str(options.get("seed", "empty")))
        answer: dict[str, Any] = {"tenant_id": tenant_id}
        if "client_id" in options:
            self.clients.put(str(options["client_id"]), {"secret": str(options["client_secret"])})
            answer["client_id"] = str(options["client_id"])
        return answer

    def _next_tenant_id(self) -> int:
        return max(self._tenants, default=0) + 1

    # -- EmulatedVendor --------------------------------------------------------------------

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/3/")

    def identify(self, headers: dict[str, str]) -> Caller | None:
        grant = self.grant_of(headers.get("authorization"))
        if grant is None:
            return None
        return Caller(tenant=str(grant.tenant_id), rate_key=grant.rate_key)

    def grant_of(self, authorization: str | None) -> Any:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        grant = self.tokens.lookup(authorization[7:].strip())
        if grant is None or grant.tenant_id not in self._tenants:
            return None
        return grant

    def rate_limited(self, retry_after: float) -> Response:
        return errors.too_many_requests()

    def server_error(self, status: int) -> Response:
        # the Ruby client's note: when the API is down it answers text/html, not JSON
        return HTMLResponse("<html><body><h1>Service Unavailable</h1></body></html>", status)

    def spurious_unauthorized(self) -> Response:
        return errors.unauthorized()

    def reset(self) -> None:
        """Forget everything, then start over as a fresh process would."""
        self.kit.storage.reset()
        self._tenants.clear()
        self._load()

    def seed(self, tenant: str | None, kind: str, options: dict[str, Any]) -> dict[str, Any]:
        """Replace a company's data with ``kind`` (``demo`` or ``empty``)."""
        from webcrm_fortnox.fortnox.emulator import seed as seeding

        tenant_id = self.default_tenant_id if tenant is None else int(tenant)
        target = self._tenants.get(tenant_id)
        if target is None:
            raise ValueError(f"no tenant {tenant_id}")
        settings = dict(target.settings)
        self.kit.storage.drop_namespace(target.namespace)
        target = self._tenants[tenant_id] = Tenant(self, tenant_id, settings)
        counts = seeding.seed_tenant(target, kind, **options)
        return {"tenant_id": tenant_id, "seed": kind, "counts": counts}

    def expire_tokens(self) -> None:
        self.tokens.expire_all()
