"""Secrets in the configuration: literal values or ``env:NAME`` references.

A secret is resolved while the file is validated (the environment comes in through the
validation context, so tests and tenants never share ``os.environ`` implicitly) and kept as a
:class:`ConfigSecret`, which never shows its value in ``repr`` or ``str`` but remembers where it
came from, so a written configuration keeps ``env:NAME`` rather than the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, SecretStr, ValidationInfo

ENV_PREFIX = "env:"


class ConfigSecret(SecretStr):
    """A secret value and, when it came from the environment, the variable's name."""

    def __init__(self, secret_value: str, env_name: str | None = None) -> None:
        super().__init__(secret_value)
        self.env_name = env_name

    @property
    def reference(self) -> str:
        """What to write back into a configuration file: ``env:NAME`` or the literal value."""
        if self.env_name is not None:
            return ENV_PREFIX + self.env_name
        return self.get_secret_value()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ConfigSecret)
            and self.get_secret_value() == other.get_secret_value()
            and self.env_name == other.env_name
        )

    def __hash__(self) -> int:
        return hash((self.get_secret_value(), self.env_name))


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    context = info.context if isinstance(info.context, Mapping) else {}
    environ = context.get("environ")
    if environ is None:
        import os

        return os.environ
    return environ  # type: ignore[no-any-return]


def _validate_secret(value: Any, info: ValidationInfo) -> ConfigSecret:
    if isinstance(value, ConfigSecret):
        return value
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        raise ValueError("must be a string (the secret itself, or env:NAME)")
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :].strip()
        if not name:
            raise ValueError("env: needs the name of an environment variable, e.g. env:MY_SECRET")
        resolved = _environ(info).get(name)
        if resolved is None:
            raise ValueError(f"environment variable {name} is not set")
        if not resolved:
            raise ValueError(f"environment variable {name} is empty")
        return ConfigSecret(resolved, env_name=name)
    if not value:
        raise ValueError("must not be empty")
    return ConfigSecret(value)


Secret = Annotated[
    ConfigSecret,
    PlainValidator(_validate_secret),
    PlainSerializer(lambda secret: secret.reference, return_type=str, when_used="json"),
]
"""A configuration secret: a literal or ``env:NAME``, resolved on validation."""
