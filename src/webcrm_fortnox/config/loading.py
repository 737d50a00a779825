"""Finding, reading and validating the configuration file.

Where the file is: ``--config FILE`` if given, else ``$WEBCRM_FORTNOX_CONFIG``, else
``webcrm-fortnox.toml`` in the current folder. A relative SQLite path in ``[state] url`` is read
from the file's folder. Whatever is wrong comes back as one :class:`ConfigError` whose message
names the file, each offending key and what is wrong, e.g.::

    webcrm-fortnox.toml: tenant[0].fortnox.client_secret: environment variable
    FORTNOX_CLIENT_SECRET is not set
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url

from webcrm_fortnox.config.checks import Problem, check_config
from webcrm_fortnox.config.models import Config

CONFIG_ENV = "WEBCRM_FORTNOX_CONFIG"
DEFAULT_FILE = "webcrm-fortnox.toml"


class ConfigError(Exception):
    """The configuration cannot be used; ``str()`` is the message to show (the CLI exits 1).

    Attributes:
        path: the file concerned.
        problems: each key and what is wrong with it.
    """

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = [f"{path}: {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


def config_path(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The configuration file to use: ``explicit``, else the environment's, else the default."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return Path(DEFAULT_FILE)


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate the configuration.

    Args:
        path: the file (``--config``); ``None`` looks it up as :func:`config_path` does.
        environ: where ``env:NAME`` secrets are looked up (default: the process environment).

    Raises:
        ConfigError: the file is missing, is not TOML, or has invalid or inconsistent settings.
    """
    env = os.environ if environ is None else environ
    file = config_path(path, env)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        hint = f"give one with --config FILE or {CONFIG_ENV}, or create {DEFAULT_FILE}"
        raise ConfigError(file, [Problem("", f"no such file ({hint})")]) from None
    except OSError as exc:
        raise ConfigError(file, [Problem("", f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(file, [Problem("", "is not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, [Problem("", f"is not valid TOML: {exc}")]) from None
    config = parse_config(data, file, environ=env)
    url = beside(config.state.url, file.absolute().parent)
    if url == config.state.url:
        return config
    return config.model_copy(update={"state": config.state.model_copy(update={"url": url})})


def beside(url: str, folder: Path) -> str:
    """``url`` with a relative SQLite file made absolute under ``folder``.

    The configuration file's folder, not the current one: from cron or systemd, a relative
    ``sqlite:///webcrm-fortnox.db`` would otherwise open a new, empty store somewhere else.
    Other databases, absolute paths and ``:memory:`` are returned unchanged.
    """
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(folder / database)).render_as_string(hide_password=False)


def parse_config(
    data: Mapping[str, Any], path: Path, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate already-parsed configuration data (``path`` is named in errors).

    Raises:
        ConfigError: invalid or inconsistent settings.
    """
    env = os.environ if environ is None else environ
    try:
        config = Config.model_validate(data, context={"environ": env})
    except pydantic.ValidationError as exc:
        raise ConfigError(path, [problem_of(error) for error in exc.errors()]) from None
    problems = check_config(config)
    if problems:
        raise ConfigError(path, problems)
    return config


def key_path(loc: Sequence[int | str]) -> str:
    """``("tenant", 0, "fortnox", "client_secret")`` → ``tenant[0].fortnox.client_secret``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


#: pydantic's type errors in the file's own terms (TOML's), keyed by pydantic's error type.
_WRONG_TYPE = {
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be text in quotes",
    "list_type": 'must be a list, e.g. ["a", "b"]',
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
}


def problem_of(error: ErrorDetails) -> Problem:
    """One pydantic error as a :class:`Problem` naming the key, in the file's own terms."""
    key = key_path(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return Problem(key, "is required but missing")
    if kind == "extra_forbidden":
        return Problem(key, "is not a known setting (misspelt?)")
    given = error.get("input")
    if kind in _WRONG_TYPE:
        message = _WRONG_TYPE[kind]
        if key == "tenant" and kind == "list_type":
            message = "must be [[tenant]] tables, one per company"
        return Problem(key, f"{message} (got {_toml_kind(given, secret=_secret(key))})")
    message = error["msg"].removeprefix("Value error, ")
    echo = kind not in ("value_error", "assertion_error") and isinstance(given, str | int | float)
    # Secrets are never echoed, not even values that failed to validate.
    if echo and not _secret(key):
        message += f" (got {given!r})"
    return Problem(key, message)


def _secret(key: str) -> bool:
    return key.endswith(("secret", "token", "password_hash", "session_key"))


def _toml_kind(value: Any, *, secret: bool) -> str:
    """What a wrong value is, in TOML's words (the text of a secret is never shown)."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "text" if secret else f"the text {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"
