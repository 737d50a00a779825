"""Checks that span several keys of a validated configuration.

Each problem names the key it is about (``tenant[0].private_customer_types``) so the message can
point a person to the exact line to change.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from webcrm_fortnox.config.models import Config, TenantConfig
from webcrm_fortnox.domain.fields import CUSTOMER_FIELDS
from webcrm_fortnox.domain.types import type_key
from webcrm_fortnox.domain.webcrm_fields import RESERVED_FIELDS, is_mappable_field


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration: the key and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


def check_config(config: Config) -> list[Problem]:
    """Every cross-key problem of ``config``, in file order (empty when it is consistent)."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, tenant in enumerate(config.tenant):
        where = f"tenant[{index}]"
        if tenant.name in seen:
            problems.append(
                Problem(
                    f"{where}.name",
                    f"{tenant.name!r} is already the name of tenant[{seen[tenant.name]}]; "
                    "tenant names must be unique",
                )
            )
        else:
            seen[tenant.name] = index
        problems.extend(_check_tenant(tenant, where))
    operators: dict[str, int] = {}
    for index, user in enumerate(config.admin.user):
        if user.name in operators:
            problems.append(
                Problem(
                    f"admin.user[{index}].name",
                    f"{user.name!r} is already the name of admin.user[{operators[user.name]}]; "
                    "operator names must be unique",
                )
            )
        operators.setdefault(user.name, index)
    return problems


def _check_tenant(tenant: TenantConfig, where: str) -> list[Problem]:
    return [
        *_check_types(tenant, where),
        *_check_urls(tenant, where),
        *_check_fortnox_auth(tenant, where),
        *_check_fields(tenant, where),
        *_check_policies(tenant, where),
    ]


def _check_types(tenant: TenantConfig, where: str) -> list[Problem]:
    problems = []
    customer = {type_key(t) for t in tenant.customer_types}
    private = {type_key(t) for t in tenant.private_customer_types}
    for value in tenant.private_customer_types:
        if type_key(value) not in customer:
            problems.append(
                Problem(
                    f"{where}.private_customer_types",
                    f"{value!r} is not one of customer_types; add it there too or remove it",
                )
            )
    if tenant.new_customer_type is not None:
        key = type_key(tenant.new_customer_type)
        if key not in customer:
            problems.append(
                Problem(
                    f"{where}.new_customer_type",
                    f"{tenant.new_customer_type!r} is not one of customer_types, so organisations "
                    "created from Fortnox would not sync back",
                )
            )
        elif key in private:
            problems.append(
                Problem(
                    f"{where}.new_customer_type",
                    f"{tenant.new_customer_type!r} is a private customer type; use "
                    "new_private_customer_type for private customers",
                )
            )
    if tenant.new_private_customer_type is not None and (
        type_key(tenant.new_private_customer_type) not in private
    ):
        problems.append(
            Problem(
                f"{where}.new_private_customer_type",
                f"{tenant.new_private_customer_type!r} is not one of private_customer_types",
            )
        )
    return problems


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_urls(tenant: TenantConfig, where: str) -> list[Problem]:
    urls = {
        "webcrm.base_url": (tenant.webcrm.base_url, "https", "http"),
        "fortnox.base_url": (tenant.fortnox.base_url, "https", "http"),
        "fortnox.auth_url": (tenant.fortnox.auth_url, "https", "http"),
        "fortnox.ws_url": (tenant.fortnox.ws_url, "wss", "ws"),
    }
    problems = []
    for key, (url, secure, insecure) in urls.items():
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in (secure, insecure) or not host:
            problems.append(
                Problem(f"{where}.{key}", f"{url!r} is not a {secure}:// URL with a host name")
            )
        elif parts.scheme == insecure and not (_is_loopback(host) or tenant.allow_insecure_http):
            problems.append(
                Problem(
                    f"{where}.{key}",
                    f"{url!r} would send credentials unencrypted; use {secure}://, or set "
                    "allow_insecure_http = true in this tenant if that is really intended",
                )
            )
    return problems


def _check_fortnox_auth(tenant: TenantConfig, where: str) -> list[Problem]:
    if tenant.fortnox.auth == "service-account" and tenant.fortnox.tenant_id is None:
        return [
            Problem(
                f"{where}.fortnox.tenant_id",
                'is required with auth = "service-account" (the company\'s Fortnox '
                "database number)",
            )
        ]
    return []


def _check_fields(tenant: TenantConfig, where: str) -> list[Problem]:
    problems = []
    used: dict[str, str] = {}
    if not tenant.fields.customer_number:
        problems.append(
            Problem(
                f"{where}.fields.customer_number",
                "must name a webCRM field: the customer number links the two systems",
            )
        )
    for field, webcrm_field in tenant.fields.mapping().items():
        key = f"{where}.fields.{field}"
        if webcrm_field in RESERVED_FIELDS:
            problems.append(Problem(key, f"{webcrm_field} already holds the name, address or Type"))
        elif not is_mappable_field(webcrm_field):
            problems.append(
                Problem(
                    key,
                    f"{webcrm_field!r} is not a webCRM organisation text field (expected e.g. "
                    "OrganisationCustom1..15, OrganisationExtraCustom1..8, or a standard field "
                    "such as OrganisationTelephone)",
                )
            )
        elif webcrm_field in used:
            problems.append(
                Problem(key, f"{webcrm_field} is already used by fields.{used[webcrm_field]}")
            )
        else:
            used[webcrm_field] = field
    return problems


def _check_policies(tenant: TenantConfig, where: str) -> list[Problem]:
    problems = []
    for field, policy in tenant.field_policy.items():
        key = f"{where}.field_policy.{field}"
        if field not in CUSTOMER_FIELDS:
            problems.append(
                Problem(key, f"{field!r} is not a customer field ({', '.join(CUSTOMER_FIELDS)})")
            )
        elif field == "customer_number" and policy.direction is not None:
            problems.append(
                Problem(
                    f"{key}.direction",
                    "the customer number flows from its owner; set customer_number_owner instead",
                )
            )
    return problems
