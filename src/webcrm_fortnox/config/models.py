"""The shape of ``webcrm-fortnox.toml``: one ``[state]`` table, one ``[[tenant]]`` per company and
the ``[admin]`` table of the administrator's page.

Every table forbids unknown keys, so a misspelt setting is an error rather than silently
ignored. Checks that involve several keys (unique tenant names, private types among the customer
types, plain HTTP only on loopback) live in :mod:`webcrm_fortnox.config.checks` so that their
messages can name the exact key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from babel import Locale, UnknownLocaleError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from webcrm_fortnox.config.secrets import ConfigSecret, Secret
from webcrm_fortnox.domain.fields import ACCOUNTING_FIELDS, MAPPABLE_FIELDS
from webcrm_fortnox.domain.types import type_key

Direction = Literal["both", "to_fortnox", "to_webcrm"]
ConflictPolicy = Literal["webcrm", "fortnox", "newest", "manual"]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
TenantName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"),
]

DEFAULT_STATE_URL = "sqlite:///webcrm-fortnox.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StateSettings(_Strict):
    """``[state]``: where the sync keeps its links, snapshots and cursors."""

    url: str = DEFAULT_STATE_URL

    @field_validator("url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in ("sqlite", "sqlite+aiosqlite", "postgresql+psycopg"):
            raise ValueError(
                "must start with sqlite:/// (a file) or postgresql+psycopg:// "
                f"(got {url.split('://', 1)[0]!r})"
            )
        return url


class WebcrmSettings(_Strict):
    """``[tenant.webcrm]``: the webCRM system and its application token."""

    base_url: str = "https://api.webcrm.com"
    api_token: Secret
    # webCRM keeps a country as a name in the system's language ("Sverige", "Danmark"); names
    # in any language are understood when reading, this one is used when writing.
    country_language: NonEmpty = "sv"

    @field_validator("country_language")
    @classmethod
    def _known_language(cls, language: str) -> str:
        try:
            Locale.parse(language)
        except (ValueError, UnknownLocaleError):
            raise ValueError(
                f"{language!r} is not a language code babel knows (e.g. sv, da, nb, en)"
            ) from None
        return language


class FortnoxSettings(_Strict):
    """``[tenant.fortnox]``: the Fortnox company and the app's OAuth credentials."""

    base_url: str = "https://api.fortnox.se"
    auth_url: str = "https://apps.fortnox.se"
    ws_url: str = "wss://ws.fortnox.se/topics-v1"
    auth: Literal["service-account", "authorization-code"] = "service-account"
    client_id: NonEmpty
    client_secret: Secret
    tenant_id: Annotated[int, Field(gt=0)] | None = None


class FieldPolicy(_Strict):
    """``[tenant.field_policy.<field>]``: how one canonical field syncs.

    Unset keys take the field's default (see :func:`default_policy`).
    """

    direction: Direction | None = None
    conflict: ConflictPolicy | None = None
    blank_overwrites: bool | None = None


class ResolvedPolicy(_Strict):
    """A field's effective policy: the user's settings over the field's defaults."""

    direction: Direction
    conflict: ConflictPolicy
    blank_overwrites: bool


WebcrmField = Annotated[str, StringConstraints(strip_whitespace=True)]


class WebcrmFields(_Strict):
    """``[tenant.fields]``: which webCRM organisation field holds each canonical field.

    ``""`` leaves a field out of the sync. The defaults use webCRM's standard field where there
    is one (OrganisationDto in webCRM's 2019 OpenAPI document) and custom fields otherwise:
    ExtraCustom fields for the identifiers, because webCRM lets those be flagged unique (the
    vendor's own ERP integration stores ERP ids there), and Custom fields for the rest.
    """

    zip_code: WebcrmField = "OrganisationPostCode"
    city: WebcrmField = "OrganisationCity"
    country: WebcrmField = "OrganisationCountry"
    phone: WebcrmField = "OrganisationTelephone"
    website: WebcrmField = "OrganisationWww"
    fax: WebcrmField = "OrganisationFax"
    vat_number: WebcrmField = "OrganisationVatNumber"
    customer_number: WebcrmField = "OrganisationExtraCustom1"
    organisation_number: WebcrmField = "OrganisationExtraCustom2"
    visiting_address: WebcrmField = "OrganisationCustom1"
    visiting_zip_code: WebcrmField = "OrganisationCustom2"
    visiting_city: WebcrmField = "OrganisationCustom3"
    visiting_country: WebcrmField = "OrganisationCustom4"
    terms_of_payment: WebcrmField = "OrganisationCustom5"
    currency: WebcrmField = "OrganisationCustom6"
    email: WebcrmField = "OrganisationCustom7"

    def mapping(self) -> dict[str, str]:
        """Canonical field → webCRM field, for the fields kept in webCRM."""
        return {name: getattr(self, name) for name in MAPPABLE_FIELDS if getattr(self, name)}


DataField = Annotated[str, StringConstraints(pattern=r"^Data[1-9]$")]
DeliveryField = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=r"^(|DeliveryErpId|DeliveryOrderDate|DeliveryCustom(?:[1-9]|1[0-5])|"
        r"DeliveryPlus(?:[1-9]|1[0-9]|20))$",
    ),
]


class ArticleSettings(_Strict):
    """``[tenant.articles]``: the Fortnox article register as webCRM's product register.

    Attributes:
        enabled: whether articles sync at all.
        article_number_field: the product-register ``Data`` field holding the article number
            (webCRM's usual linked-data setup: ``Data1``).
        name_field: the ``Data`` field holding the article's description (``Data2``).
        price_list: the Fortnox price list whose price is the list price; unset: the article's
            ``SalesPrice``, i.e. its price in the company's default price list, which the
            article list carries, so no request per article is needed.
        inactive_suffix: appended to the name of an item whose article is inactive in
            Fortnox, so sales people see it; the item itself is kept.
    """

    enabled: bool = True
    article_number_field: DataField = "Data1"
    name_field: DataField = "Data2"
    price_list: NonEmpty | None = None
    inactive_suffix: Annotated[str, StringConstraints(min_length=1)] = " (inactive)"

    @model_validator(mode="after")
    def _distinct_fields(self) -> ArticleSettings:
        if self.article_number_field == self.name_field:
            raise ValueError("article_number_field and name_field must be different Data fields")
        return self


class DeliveryFields(_Strict):
    """``[tenant.documents.fields]``: which webCRM delivery field holds each document field.

    ``""`` leaves a field out. webCRM has standard fields for the ERP document number
    (``DeliveryErpId``) and the order date; the rest live in custom fields, by default those
    the usual accounting setup switches on (delivery date, invoice number and date, a
    booked checkbox, and the Fortnox record a delivery was created from).
    """

    document_number: DeliveryField = "DeliveryErpId"
    order_date: DeliveryField = "DeliveryOrderDate"
    delivery_date: DeliveryField = "DeliveryCustom1"
    invoice_number: DeliveryField = "DeliveryCustom2"
    invoice_date: DeliveryField = "DeliveryCustom3"
    invoice_booked: DeliveryField = "DeliveryCustom4"
    #: holds the Fortnox record (``invoice:7``) a delivery was created from: its idempotency
    #: key, looked up before a create is sent again; cannot be left out.
    fortnox_id: Annotated[DeliveryField, StringConstraints(min_length=1)] = "DeliveryCustom5"

    def mapping(self) -> dict[str, str]:
        """Canonical document field → webCRM delivery field, for the fields kept in webCRM."""
        names = (
            "document_number",
            "order_date",
            "delivery_date",
            "invoice_number",
            "invoice_date",
            "invoice_booked",
        )
        return {name: getattr(self, name) for name in names if getattr(self, name)}


class DocumentSettings(_Strict):
    """``[tenant.documents]``: webCRM deliveries and Fortnox orders or invoices."""

    enabled: bool = True
    fields: DeliveryFields = Field(default_factory=DeliveryFields)


class TenantConfig(_Strict):
    """``[[tenant]]``: one webCRM system paired with one Fortnox company."""

    name: TenantName
    sync_interval_seconds: Annotated[int, Field(ge=10)] = 360
    webcrm_poll_seconds: Annotated[int, Field(ge=1)] = 15
    #: how long a create that got no answer (a timeout, a crash) is given to land before a
    #: lookup that does not find it sends it again: a lost answer's request may still be running
    unanswered_create_wait_seconds: Annotated[int, Field(ge=0)] = 300
    customer_types: Annotated[list[NonEmpty], Field(min_length=1)]
    private_customer_types: list[NonEmpty] = Field(default_factory=list)
    new_customer_type: NonEmpty | None = None
    new_private_customer_type: NonEmpty | None = None
    customer_number_owner: Literal["fortnox", "webcrm"] = "fortnox"
    delivery_target: Literal["order", "invoice"] = "order"
    allow_insecure_http: bool = False
    webcrm: WebcrmSettings
    fortnox: FortnoxSettings
    fields: WebcrmFields = Field(default_factory=WebcrmFields)
    field_policy: dict[str, FieldPolicy] = Field(default_factory=dict)
    articles: ArticleSettings = Field(default_factory=ArticleSettings)
    documents: DocumentSettings = Field(default_factory=DocumentSettings)

    @property
    def company_type_for_new(self) -> str:
        """The Type given to organisations created from Fortnox company customers."""
        if self.new_customer_type is not None:
            return self.new_customer_type
        private = {type_key(t) for t in self.private_customer_types}
        return next(
            (t for t in self.customer_types if type_key(t) not in private), self.customer_types[0]
        )

    @property
    def private_type_for_new(self) -> str | None:
        """The Type given to organisations created from Fortnox private customers, if any."""
        if self.new_private_customer_type is not None:
            return self.new_private_customer_type
        return self.private_customer_types[0] if self.private_customer_types else None

    def policy(self, field: str) -> ResolvedPolicy:
        """The effective sync policy of one canonical field."""
        base = default_policy(field, self.customer_number_owner)
        own = self.field_policy.get(field)
        if own is None:
            return base
        return ResolvedPolicy(
            direction=own.direction or base.direction,
            conflict=own.conflict or base.conflict,
            blank_overwrites=(
                base.blank_overwrites if own.blank_overwrites is None else own.blank_overwrites
            ),
        )


def default_policy(field: str, customer_number_owner: str = "fortnox") -> ResolvedPolicy:
    """The policy a field has when the configuration says nothing about it.

    Contact data is edited by sales people in webCRM, so webCRM wins a conflict there;
    accounting data (type, terms, currency, VAT and organisation numbers) is Fortnox's. The
    customer number flows only from its owner. A blank never overwrites a value by default.
    """
    if field == "customer_number":
        owner_is_fortnox = customer_number_owner == "fortnox"
        return ResolvedPolicy(
            direction="to_webcrm" if owner_is_fortnox else "to_fortnox",
            conflict="fortnox" if owner_is_fortnox else "webcrm",
            blank_overwrites=False,
        )
    conflict: ConflictPolicy = "fortnox" if field in ACCOUNTING_FIELDS else "webcrm"
    return ResolvedPolicy(direction="both", conflict=conflict, blank_overwrites=False)


AdminRole = Literal["operator", "read-only"]
OperatorName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$")]


class AdminUser(_Strict):
    """``[[admin.user]]``: one person who may sign in to the administrator's page.

    Attributes:
        name: what they sign in with.
        password_hash: an Argon2 hash made by ``webcrm-fortnox admin hash-password`` (the
            password itself is never written anywhere).
        role: ``operator`` may act (retry, settle conflicts, pause, …); ``read-only`` only reads.
    """

    name: OperatorName
    password_hash: NonEmpty
    role: AdminRole = "operator"

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError(
                "must be an Argon2 hash made by `webcrm-fortnox admin hash-password`, "
                "not a password"
            )
        return value


class AdminSettings(_Strict):
    """``[admin]``: who may use the administrator's page (``webcrm-fortnox admin``).

    Attributes:
        user: the operators, each with a password hash and a role.
        token: ``env:NAME``: one token that signs in as ``token_role`` (for a machine or a
            single administrator); read from the environment, never written in the file.
        token_role: the role the token gives.
        session_key: ``env:NAME``: the key that signs session cookies, for several processes
            behind one address; unset, each start makes its own (signing everyone out).
        session_hours: how long a sign-in lasts.
        secure_cookies: send the session cookie over HTTPS only (behind a TLS reverse proxy).
    """

    user: list[AdminUser] = Field(default_factory=list)
    token: Secret | None = None
    token_role: AdminRole = "operator"
    session_key: Secret | None = None
    session_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 12
    secure_cookies: bool = False

    @field_validator("token", "session_key")
    @classmethod
    def _from_environment(cls, value: ConfigSecret | None) -> ConfigSecret | None:
        if value is not None and value.env_name is None:
            raise ValueError(
                "must be env:NAME: it is read from the environment, never written in the file"
            )
        return value


class Config(_Strict):
    """The whole configuration file."""

    state: StateSettings = Field(default_factory=StateSettings)
    tenant: list[TenantConfig] = Field(default_factory=list)
    admin: AdminSettings = Field(default_factory=AdminSettings)

    def tenant_named(self, name: str) -> TenantConfig:
        """The tenant called ``name``.

        Raises:
            KeyError: no tenant has that name.
        """
        for tenant in self.tenant:
            if tenant.name == name:
                return tenant
        raise KeyError(name)
