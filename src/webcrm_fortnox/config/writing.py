"""Writing a configuration file (the demo and ``init``-style commands create one).

The standard library reads TOML but does not write it; the configuration's shape is small and
fixed (tables, arrays of tables, strings, integers, booleans, lists of strings), so this writes
exactly that, and the result is read back through :func:`load_config`'s validation in the tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from webcrm_fortnox.config.models import AdminSettings, Config, FieldPolicy, WebcrmFields


def config_to_toml(config: Config) -> str:
    """The TOML text of ``config``; secrets are written as given (``env:NAME`` or the value)."""
    data = config.model_dump(mode="json", exclude_none=True)
    lines: list[str] = []
    _table(lines, ["state"], data.get("state", {}))
    for tenant in data.get("tenant", []):
        _tenant(lines, tenant)
    _admin(lines, data.get("admin", {}))
    return "\n".join(lines).lstrip("\n") + "\n"


def _admin(lines: list[str], admin: Mapping[str, Any]) -> None:
    """``[admin]`` with the settings that differ from the defaults, then each operator."""
    defaults = AdminSettings().model_dump(mode="json", exclude_none=True)
    changed = {k: v for k, v in admin.items() if k != "user" and defaults.get(k) != v}
    if changed:
        _table(lines, ["admin"], changed)
    for user in admin.get("user", []):
        lines += ["", "[[admin.user]]", *_assignments(user)]


def tenant_to_toml(table: Mapping[str, Any]) -> str:
    """One ``[[tenant]]`` table with every setting it has, nested tables as sub-tables (unset
    values left out): what ``tenants show`` prints and ``tenants import`` reads back."""
    lines: list[str] = []
    _nested(lines, ["tenant"], table, array=True)
    return "\n".join(lines).lstrip("\n") + "\n"


def _nested(lines: list[str], name: list[str], values: Mapping[str, Any], *, array: bool) -> None:
    scalars = {k: v for k, v in values.items() if v is not None and not isinstance(v, dict)}
    header = ".".join(_key(n) for n in name)
    lines += ["", f"[[{header}]]" if array else f"[{header}]", *_assignments(scalars)]
    for key, value in values.items():
        if isinstance(value, dict):
            _nested(lines, [*name, key], value, array=False)


def write_config(path: str | os.PathLike[str], config: Config) -> Path:
    """Write ``config`` to ``path`` (created or replaced, readable by its owner only).

    Returns:
        the path written.
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    temporary = file.with_name(file.name + ".tmp")
    # The file may hold literal secrets: create it private, then move it into place whole.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(config_to_toml(config))
    temporary.replace(file)
    return file


def _tenant(lines: list[str], tenant: Mapping[str, Any]) -> None:
    defaults = WebcrmFields().model_dump()
    scalars = {k: v for k, v in tenant.items() if not isinstance(v, dict)}
    lines += ["", "[[tenant]]", *_assignments(scalars)]
    _table(lines, ["tenant", "webcrm"], tenant["webcrm"])
    _table(lines, ["tenant", "fortnox"], tenant["fortnox"])
    # Only the mappings a user changed are written, so the file stays short and readable.
    fields = {k: v for k, v in tenant.get("fields", {}).items() if defaults.get(k) != v}
    if fields:
        _table(lines, ["tenant", "fields"], fields)
    for field, policy in tenant.get("field_policy", {}).items():
        set_keys = {k: v for k, v in policy.items() if k in FieldPolicy.model_fields}
        if set_keys:
            _table(lines, ["tenant", "field_policy", field], set_keys)


def _table(lines: list[str], name: list[str], values: Mapping[str, Any]) -> None:
    lines += ["", f"[{'.'.join(_key(n) for n in name)}]", *_assignments(values)]


def _assignments(values: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in values.items()]


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string literal is a valid TOML basic string (same escapes), non-ASCII kept.
        # TOML also wants DEL escaped, which JSON leaves alone.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the configuration file")
