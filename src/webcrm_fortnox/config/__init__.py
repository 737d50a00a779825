"""The configuration file: its shape, loading with clear errors, and writing.

Typical use::

    config = load_config(path_or_none)      # raises ConfigError; print it and exit 1
    for tenant in config.tenant: ...
"""

from webcrm_fortnox.config.checks import Problem, check_config
from webcrm_fortnox.config.loading import (
    CONFIG_ENV,
    DEFAULT_FILE,
    ConfigError,
    config_path,
    load_config,
    parse_config,
)
from webcrm_fortnox.config.models import (
    Config,
    FieldPolicy,
    FortnoxSettings,
    ResolvedPolicy,
    StateSettings,
    TenantConfig,
    WebcrmFields,
    WebcrmSettings,
    default_policy,
)
from webcrm_fortnox.config.secrets import ConfigSecret
from webcrm_fortnox.config.writing import config_to_toml, write_config

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_FILE",
    "Config",
    "ConfigError",
    "ConfigSecret",
    "FieldPolicy",
    "FortnoxSettings",
    "Problem",
    "ResolvedPolicy",
    "StateSettings",
    "TenantConfig",
    "WebcrmFields",
    "WebcrmSettings",
    "check_config",
    "config_path",
    "config_to_toml",
    "default_policy",
    "load_config",
    "parse_config",
    "write_config",
]
