"""Does a connection have what the sync needs? Licences, scopes and plans, in plain words.

Fortnox answers a company without the integration licence with 2001103 ("Api-licens saknas"), a
connection lacking a scope with 2000663 ("Har inte behörighet för scope") and a company without
the module behind a scope with 2001101 (reference §1.4, §6.2). webCRM refuses the login of a
system whose plan has no REST API. Each becomes a message that says what to buy or enable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webcrm_fortnox.config.models import TenantConfig
from webcrm_fortnox.domain.webcrm_setup import SetupProblem
from webcrm_fortnox.engine.adapters import WebcrmOrganisations
from webcrm_fortnox.errors import ApiError, AuthError, PermissionDenied
from webcrm_fortnox.fortnox.client import FortnoxClient
from webcrm_fortnox.webcrm.client import WebcrmClient

NO_API_LICENCE = 2001103
NO_SCOPE = 2000663
NO_MODULE_LICENCE = 2001101

#: What the sync reads in Fortnox: (scope, a resource that needs it, what it is for).
_CUSTOMER_PROBE = ("customer", "customers", "customers")
_ARTICLE_PROBE = ("article", "articles", "articles")

LICENCE_MESSAGE = (
    "The Fortnox company has no API licence (Fortnox error 2001103, 'Api-licens saknas'): buy "
    "Fortnox's integration licence ('Integrationslicens') for this company in Fortnox; the "
    "connection works as soon as it is active."
)


def fortnox_scopes(tenant: TenantConfig) -> tuple[str, ...]:
    """The scopes ``connect`` asks for: what the tenant's entities read and write."""
    scopes = ["companyinformation", "customer", "settings", "currency"]
    if tenant.articles.enabled:
        scopes += ["article", "price"]
    if tenant.documents.enabled:
        scopes.append("article")
        scopes.append("order" if tenant.delivery_target == "order" else "invoice")
        if tenant.delivery_target == "order":
            scopes.append("invoice")  # an order's invoice number and date come from it
    return tuple(dict.fromkeys(scopes))


def _probes(tenant: TenantConfig) -> list[tuple[str, str, str]]:
    probes = [_CUSTOMER_PROBE]
    if tenant.articles.enabled or tenant.documents.enabled:
        probes.append(_ARTICLE_PROBE)
    if tenant.documents.enabled:
        probes.append(("order", "orders", "orders"))
        probes.append(("invoice", "invoices", "invoices"))
    return probes


@dataclass
class Access:
    """What a check found.

    Attributes:
        problems: what to buy or enable, one sentence each; empty when all is well.
        tenant_id: Fortnox: the company's TenantId, when it could be read.
        company: a name to show (Fortnox company name).
        setup: webCRM: custom fields the configuration needs that the system lacks.
    """

    problems: list[str] = field(default_factory=list)
    tenant_id: int | None = None
    company: str | None = None
    setup: list[SetupProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.setup


def _code(error: ApiError) -> int | None:
    try:
        return None if error.code is None else int(error.code)
    except ValueError:
        return None


async def check_fortnox(client: FortnoxClient, tenant: TenantConfig) -> Access:
    """Read one record of everything the sync needs; say what is missing.

    Raises:
        AuthError: the credentials themselves were refused (the caller says to reconnect).
    """
    access = Access()
    try:
        company = await client.company_information()
        access.tenant_id = company.database_number
        access.company = company.company_name
    except PermissionDenied as error:
        if _code(error) == NO_API_LICENCE:
            access.problems.append(LICENCE_MESSAGE)
            return access
        # Without the companyinformation scope the sync still works; the id is a nicety.
    missing_scopes: list[str] = []
    for scope, resource, what in _probes(tenant):
        try:
            await client.call("GET", resource, params={"limit": 1})
        except PermissionDenied as error:
            code = _code(error)
            if code == NO_API_LICENCE:
                access.problems.append(LICENCE_MESSAGE)
                return access
            if code == NO_MODULE_LICENCE:
                access.problems.append(
                    f"The Fortnox company has no licence for the module behind scope '{scope}' "
                    f"(Fortnox error 2001101): buy the Fortnox module that holds {what} "
                    "(e.g. Order for orders, Fakturering for invoices)."
                )
            else:
                missing_scopes.append(scope)
    if missing_scopes:
        listed = ", ".join(f"'{s}'" for s in missing_scopes)
        access.problems.append(
            f"The connection lacks the Fortnox scope(s) {listed} (Fortnox error 2000663, 'Har "
            "inte behörighet för scope'): give the Fortnox user who connects the rights to "
            f"{', '.join(missing_scopes)} (Fortnox: Inställningar → Användare) and enable the "
            "scopes on the integration, then run `webcrm-fortnox connect fortnox "
            f"--tenant {tenant.name}` again."
        )
    return access


async def check_webcrm(client: WebcrmClient, tenant: TenantConfig) -> Access:
    """Log in with the API token, then check the field setup the configuration needs.

    A plan without the REST API and a refused token both become a problem to fix.
    """
    access = Access()
    try:
        access.setup = await WebcrmOrganisations(client, tenant).check_setup()
    except PermissionDenied as error:
        access.problems.append(
            f"{error.explanation} (ask webCRM to upgrade the system to PLUS or ENTERPRISE, "
            "which include the REST API)."
        )
    except AuthError as error:
        access.problems.append(error.explanation)
    return access
