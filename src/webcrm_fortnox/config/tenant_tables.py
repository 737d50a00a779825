"""One ``[[tenant]]`` table on its own: validated as in a file, and split into settings and secrets.

The tenant registry keeps a tenant as the same table a configuration file holds, so a company's
file is also an integrator's import. What it stores is split in two: the settings, readable, and
the secrets (:data:`SECRET_KEYS`), which are encrypted. A secret is kept as written: a literal
value, or an ``env:NAME`` reference resolved in the environment of the process that loads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from webcrm_fortnox.config.checks import Problem, check_config
from webcrm_fortnox.config.loading import problem_of
from webcrm_fortnox.config.models import Config, TenantConfig

#: Where the secrets of a tenant table are: (table, key).
SECRET_KEYS: tuple[tuple[str, str], ...] = (("webcrm", "api_token"), ("fortnox", "client_secret"))

_ONE_TENANT = "tenant[0]."


class TenantTableError(ValueError):
    """A tenant table is invalid.

    Attributes:
        problems: each key (relative to the tenant table, e.g. ``fortnox.tenant_id``) and what
            is wrong with it.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))


def validate_tenant(
    table: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> TenantConfig:
    """The tenant a ``[[tenant]]`` table describes, checked as a configuration file's would be.

    Args:
        table: the table, with its secrets (literal values or ``env:NAME``).
        environ: where ``env:NAME`` secrets are resolved (default: the process environment).

    Raises:
        TenantTableError: the table is invalid; keys are relative to it.
    """
    env = os.environ if environ is None else environ
    try:
        config = Config.model_validate({"tenant": [dict(table)]}, context={"environ": env})
    except pydantic.ValidationError as exc:
        raise TenantTableError([_relative(problem_of(error)) for error in exc.errors()]) from None
    problems = check_config(config)
    if problems:
        raise TenantTableError([_relative(problem) for problem in problems])
    return config.tenant[0]


def _relative(problem: Problem) -> Problem:
    key = problem.key
    if key == "tenant[0]" or key == "tenant":
        key = ""
    return Problem(key.removeprefix(_ONE_TENANT), problem.message)


def split_secrets(tenant: TenantConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """A tenant's table without its secrets, and the secrets as written (``env:NAME`` stays).

    Returns:
        ``(settings, secrets)``; secrets are keyed ``"webcrm.api_token"`` and so on.
    """
    settings = tenant.model_dump(mode="json")
    secrets: dict[str, str] = {}
    for table, key in SECRET_KEYS:
        secrets[f"{table}.{key}"] = settings[table].pop(key)
    return settings, secrets


def join_secrets(settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    """The whole tenant table again from :func:`split_secrets`' two halves."""
    table = {
        key: dict(value) if isinstance(value, dict) else value for key, value in settings.items()
    }
    for name, value in secrets.items():
        section, key = name.split(".", 1)
        table.setdefault(section, {})[key] = value
    return table
